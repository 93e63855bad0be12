"""ASGI middleware: request ids (bound into every log line) and bearer-token auth."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from releval_judge.access import Principal
from releval_judge.web.errors import error_response

log = structlog.get_logger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

TokenCheck = Callable[[str], Awaitable[Principal | None]]


class RequestIdMiddleware:
    """Honour a sane ``X-Request-ID`` (or make one), echo it, bind it into the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                client = scope.get("client")
                log.debug(
                    "request_handled",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    # As the proxy-headers middleware resolved it (serving.py).
                    client=client[0] if client else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )


class BearerAuthMiddleware:
    """Every route under ``/api/`` needs ``Authorization: Bearer <token>``; the token's
    principal goes into the request's state (``web.auth.principal``)."""

    def __init__(self, app: ASGIApp, check: TokenCheck, protected_prefix: str = "/api/") -> None:
        self.app = app
        self.check = check
        self.prefix = protected_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            problem = "missing bearer token: send 'Authorization: Bearer <token>'"
        elif (found := await self.check(token.strip())) is None:
            problem = "invalid token (unknown, revoked or expired)"
        else:
            scope.setdefault("state", {})["principal"] = found
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "unauthorized", problem, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path without the root path a gateway serves us under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
