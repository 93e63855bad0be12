"""Reading request bodies and query parameters into models, with the contract's errors."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from releval_judge.errors import (
    InvalidJson,
    PayloadTooLarge,
    ValidationFailed,
    summarise,
    validation_details,
)

__all__ = ["read_body", "read_model", "read_query", "summarise", "validation_details"]

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing one over ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_model(request: Request, model: type[M], max_bytes: int) -> M:
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise InvalidJson("request body is empty; send a JSON object")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidJson(f"malformed JSON: {exc.errors()[0]['msg']}") from exc
        details = validation_details(exc)
        raise ValidationFailed(summarise(details), details=details) from exc


def read_query(request: Request, model: type[M]) -> M:
    """Query parameters validated by a model; unknown parameters are refused (422)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        details = validation_details(exc, prefix="query")
        raise ValidationFailed(summarise(details), details=details) from exc
