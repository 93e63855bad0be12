"""JSON responses from pydantic models (serialised by pydantic, not by json.dumps), and
conditional ones (ETag / If-None-Match) for the states pollers re-read."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def conditional_response(request: Request, model: BaseModel) -> Response:
    """200 with the model's JSON and an ``ETag``; 304 with no body when the request's
    ``If-None-Match`` names that ETag (or is ``*``).

    The ETag is a digest of the body, so it changes exactly when the answer would: a
    poller that sends back the last ETag gets a body only after something changed.
    ``Cache-Control: no-cache`` lets a cache keep the answer but never serve it without
    asking (a run's progress is stale as soon as it is sent).
    """
    body = model.model_dump_json().encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names `etag` (RFC 9110 §13.1.2: a list of
    entity tags or ``*``, compared weakly: a ``W/`` prefix does not matter)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
