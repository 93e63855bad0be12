"""``/openapi.json``: built from the route table and the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from releval_judge import __version__
from releval_judge.api.routes import ROUTES, RouteSpec

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def build_openapi(root_path: str = "") -> dict[str, Any]:
    models: list[type[BaseModel]] = []
    for spec in ROUTES:
        for model in (spec.body, spec.response, spec.ndjson_body):
            if model is not None and model not in models:
                models.append(model)
    refs, defs = models_json_schema(
        [(m, "validation") for m in models if m not in _response_models()]
        + [(m, "serialization") for m in _response_models()],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "releval-judge", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if root_path:
        document["servers"] = [{"url": root_path}]
    return document


def _response_models() -> list[type[BaseModel]]:
    return [s.response for s in ROUTES if s.response is not None]


def _operation(spec: RouteSpec, refs: dict[Any, Any]) -> dict[str, Any]:
    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        schema: dict[str, Any] = refs[(model, mode)]
        return schema

    operation: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": spec.handler.__name__,
        "responses": {},
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(spec.path)
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(spec.body, "validation")}},
        }
    if spec.ndjson_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/x-ndjson": {"schema": ref(spec.ndjson_body, "validation")}},
        }
    success: dict[str, Any] = {"description": "OK"}
    if spec.response is not None:
        success["content"] = {"application/json": {"schema": ref(spec.response, "serialization")}}
    operation["responses"][str(spec.status)] = success
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    codes = ["400", "413", "422"] if spec.body or spec.ndjson_body else ["422"]
    if spec.auth:
        operation["security"] = [{"bearer": []}]
        codes = ["401", "404", "409", *codes]
    for code in codes:
        operation["responses"][code] = {"description": "Error", **error}
    if not spec.auth:
        operation["security"] = []
    return operation


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


async def openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)
