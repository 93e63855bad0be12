"""``/openapi.json``: built from the route table and the pydantic models.

Which error statuses an operation documents follows from its shape, so that a route
added to the table is documented the same way (``tests/integration/test_schemathesis.py``
holds every response to this document):

- 401 and 403 on every route under ``/api/`` (bearer token; a token without the scope the
  route needs, which ``x-required-scope`` and the description name);
- 404 where the path names a resource (ids are UUIDs; any other id is a 404 as well);
- 409 on every write under ``/api/`` but the token API's (locked or not completed runs,
  runs that ended, judges in use, too many active runs);
- 400, 408, 413 and 422 where a body is read, JSON or NDJSON (NDJSON errors name the
  line); 422 where query parameters or path parameters other than ids (a human judge's
  name) are read.
"""

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
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}

# Bodies of the unauthenticated probes, which have no pydantic model.
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
}

ERROR_DESCRIPTIONS = {
    400: "Malformed JSON (`invalid_json`)",
    401: "Missing or invalid bearer token (`unauthorized`)",
    403: "The token lacks the scope this route needs (`forbidden`; the message names it)",
    404: "No such resource (`not_found`)",
    409: "Conflict with the resource's state (`evaluation_run_not_completed`, "
    "`evaluation_run_locked`, `judging_run_ended`, `judge_in_use`, `too_many_active_runs`)",
    408: "The client sent none of its body for RELEVAL_CLIENT_IDLE_S (`client_timeout`)",
    413: "Body larger than RELEVAL_MAX_BODY_BYTES, or RELEVAL_MAX_IMPORT_BYTES for NDJSON "
    "(`payload_too_large`)",
    422: "Invalid input (`validation_error`, pydantic's error list in `details`)",
    502: "The provider refused the judge or could not be used (`provider_error`)",
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SCOPES_DESCRIPTION = (
    "A token carries scopes: `read` (every GET, and the cost estimate), `write` (read and "
    "every change, the judge test included), `admin` (write and the token API). Each "
    "operation names the scope it needs in `x-required-scope`; without it: 403 `forbidden`."
)


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
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": SCOPES_DESCRIPTION,
                }
            },
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
    scope = spec.required_scope
    if scope is not None:
        operation["description"] = f"Needs a token with the `{scope}` scope (or a higher one)."
        operation["x-required-scope"] = scope
    path_params = _path_params(spec.path)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": False, "schema": _query_schema(prop)}
            )
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(spec.body, "validation")}},
        }
    if spec.ndjson_body is not None:
        # OpenAPI 3.1 has no item schema for streamed media types (3.2's ``itemSchema``):
        # the body is described as the sequence of lines, each one JSON object.
        operation["requestBody"] = {
            "required": True,
            "description": "One JSON object per line (newline-delimited JSON)",
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "array", "items": ref(spec.ndjson_body, "validation")}
                }
            },
        }
    operation["responses"][str(spec.status)] = _success(spec, ref)
    if spec.path == "/readyz":
        operation["responses"]["503"] = {
            "description": "The database is unreachable",
            "content": {"application/json": {"schema": STATUS_SCHEMA}},
        }

    codes: set[int] = set()
    if spec.body is not None or spec.ndjson_body is not None:
        codes |= {400, 408, 413, 422}
    if spec.query is not None or any(not _is_id(name) for name in path_params):
        codes.add(422)
    if spec.auth:
        codes |= {401, 403}
        if path_params:
            codes.add(404)
        # The token API's changes meet no resource state (revoking twice is a 204).
        if spec.method in WRITE_METHODS and spec.required_scope != "admin":
            codes.add(409)
    codes |= set(spec.errors)
    for code in sorted(codes):
        operation["responses"][str(code)] = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["security"] = [{"bearer": []}] if spec.auth else []
    return operation


def _success(spec: RouteSpec, ref: Any) -> dict[str, Any]:
    if spec.status == 204:
        return {"description": "Done (no content)"}
    if spec.media_types:
        return {
            "description": "OK (streamed)",
            "content": {
                media: {"schema": _stream_schema(spec, media, ref)} for media in spec.media_types
            },
        }
    if spec.response is not None:
        return {
            "description": "OK",
            "content": {"application/json": {"schema": ref(spec.response, "serialization")}},
        }
    if spec.path == "/metrics":
        return {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    return {"description": "OK", "content": {"application/json": {"schema": STATUS_SCHEMA}}}


def _stream_schema(spec: RouteSpec, media: str, ref: Any) -> dict[str, Any]:
    """A streamed body is a string, except Server-Sent Events: before OpenAPI 3.2's
    ``itemSchema``, ``schema`` describes one event, whose ``data`` is the route's
    ``response`` model as JSON."""
    if media != "text/event-stream":
        return {"type": "string"}
    data: dict[str, Any] = {"type": "string"}
    if spec.response is not None:
        data |= {
            "contentMediaType": "application/json",
            "contentSchema": ref(spec.response, "serialization"),
        }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "data": data,
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
    }


def _path_schema(name: str) -> dict[str, Any]:
    # Every id is a UUID; the server answers 404 (not 422) to anything else, since a
    # resource with such an id cannot exist.
    if _is_id(name):
        return {"type": "string", "format": "uuid"}
    return {"type": "string"}


def _is_id(path_param: str) -> bool:
    return path_param.endswith("_id")


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's ``null`` branch: leaving the
    parameter out is how a client says "none"; there is no way to send a null."""
    variants = prop.get("anyOf")
    if variants is None:
        return prop
    kept = [v for v in variants if v.get("type") != "null"]
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    if len(kept) == 1:
        return {**rest, **kept[0]}
    return {**rest, "anyOf": kept}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


async def openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)
