"""Reading request bodies and query parameters into models, with the contract's errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from releval_judge.errors import InvalidJson, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def validation_details(exc: ValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    """Pydantic's error list, JSON-safe, with locations prefixed like FastAPI's."""
    # parse_constant: an input of NaN or Infinity is echoed back as a string, since a
    # JSON response cannot carry it as a number.
    details: list[dict[str, Any]] = json.loads(exc.json(include_url=False), parse_constant=str)
    for item in details:
        item["loc"] = [prefix, *item.get("loc", [])]
        _redact_secrets(item)
    return details


# Request fields whose values are never echoed back (an error's `input` included).
SECRET_FIELDS = frozenset({"api_key", "token"})
REDACTED = "[redacted]"


def _redact_secrets(item: dict[str, Any]) -> None:
    """An error about a secret field, or whose input holds one, shows `[redacted]` there."""
    if "input" not in item:
        return
    # An unknown field may be a misspelt secret ("apikey"): its value is not echoed either.
    if item.get("type") == "extra_forbidden" or any(p in SECRET_FIELDS for p in item["loc"]):
        item["input"] = REDACTED
    elif isinstance(item["input"], dict):
        item["input"] = _redacted(item["input"])


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_FIELDS else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def summarise(details: list[dict[str, Any]]) -> str:
    first = details[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or first["loc"][0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{more}"


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
