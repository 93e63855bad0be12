"""What a route is: its method and path, handler, the models the OpenAPI document is built
from, and the scope a token needs (the table of every route is ``api/routes.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.access import Scope
from releval_judge.web.auth import require_scope

Handler = Callable[[Request], Awaitable[Response]]
API = "/api/v1"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: bool = True
    ndjson_body: type[BaseModel] | None = None
    # Success bodies that are not JSON models (streamed exports), by media type.
    media_types: tuple[str, ...] = ()
    # Error statuses beyond those the route's shape implies (see api/openapi.py).
    errors: tuple[int, ...] = ()
    # The scope a token needs; None: derived from the method (see required_scope).
    scope: Scope | None = None

    @property
    def required_scope(self) -> Scope | None:
        """What a token needs for this route: None for the routes without auth; else the
        route's own ``scope``, or ``read`` for a GET and ``write`` for any other method."""
        if not self.auth:
            return None
        if self.scope is not None:
            return self.scope
        return "read" if self.method == "GET" else "write"


def endpoint(spec: RouteSpec) -> Handler:
    """What the app serves for ``spec``: its handler behind its scope check."""
    scope = spec.required_scope
    if scope is None:
        return spec.handler
    return require_scope(spec.handler, scope, f"{spec.method} {spec.path}")
