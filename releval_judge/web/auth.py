"""Who made a request and whether their token's scope allows the route: the principal the
bearer middleware put in the request's state, and the scope check every API handler is
served behind. Tokens become principals in ``services.auth.TokenChecker``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from releval_judge.access import Principal, Scope
from releval_judge.errors import Forbidden
from releval_judge.services import Services

Handler = Callable[[Request], Awaitable[Response]]


def principal(conn: HTTPConnection) -> Principal:
    """Who made this request (set by the bearer-token middleware on every API route)."""
    found: Principal = conn.scope["state"]["principal"]
    return found


def actor(conn: HTTPConnection) -> str:
    """The name recorded as who did what: the token's name, ``static`` for static tokens."""
    return principal(conn).name


def require_scope(handler: Handler, scope: Scope, route: str) -> Handler:
    """``handler``, answering 403 ``forbidden`` (naming ``scope`` and the token's scopes)
    before anything else (the body is not read) when the token lacks ``scope``.
    ``route`` names the route in that message, e.g. ``POST /api/v1/ai-judges``."""

    @functools.wraps(handler)
    async def checked(request: Request) -> Response:
        held = principal(request)
        if not held.allows(scope):
            raise Forbidden(scope, list(held.scope_names), route)
        return await handler(request)

    return checked


def services(conn: HTTPConnection) -> Services:
    """The service layer's dependencies, built by the app's lifespan."""
    found: Services = conn.app.state.services
    return found
