"""What every page of the web UI shares: the session, the login redirect, rendering.

Every page needs the session cookie (see ``session.py``); without it, the login page.
Any valid token may log in and see every page. Changes are never made here: the pages'
JavaScript sends them to the JSON API, so the UI can do nothing the API refuses (scopes
included), and shows the API's own error messages. The pages leave out or disable the
controls of changes the session's token may not make, saying why (``Session.needs``).

A page parses its request, reads what it shows through the service layer (the same use
cases the API's handlers call), and renders a template. The pages, by group: ``login``
(log in and out), ``runs`` (evaluation runs and judging runs), ``review`` (a run's
judgments), ``judges`` (AI judges and the template preview), ``analysis`` (metrics,
comparisons, panel runs, the review queue).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from releval_judge import __version__
from releval_judge.access import Principal, Scope
from releval_judge.errors import DomainError
from releval_judge.ui.session import csrf_token, reviewer_name, session_token
from releval_judge.web.middleware import TokenCheck

SECURITY_HEADERS = {
    # Scripts and styles come from /ui/static only; no page may be framed (clickjacking).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class UiState:
    """What the UI's handlers reach through ``request.app.state.ui``."""

    check: TokenCheck
    templates: Jinja2Templates
    # The development token's file when the service made one (RELEVAL_API_TOKENS unset).
    dev_token_file: Path | None = None


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    reviewer: str
    principal: Principal

    def needs(self, scope: Scope, what: str) -> str | None:
        """Why this session may not do ``what`` (the reason a disabled control shows);
        None when its token has ``scope``."""
        if self.principal.allows(scope):
            return None
        held = ", ".join(self.principal.scope_names)
        return f"Your token's scope is {held}: {what} needs the {scope} scope."


PageHandler = Callable[[Request, Session], Awaitable[Response]]


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def gateway_root(request: Request) -> str:
    """The gateway prefix (``RELEVAL_ROOT_PATH``), without the ``/ui`` mount point."""
    found: str = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    return found.rstrip("/")


async def current_session(request: Request) -> Session | None:
    """The session of the request's cookie when its token is (still) valid, else None."""
    token = session_token(request)
    if token is None:
        return None
    principal = await ui_state(request).check(token)
    if principal is None:
        return None
    return Session(
        token=token,
        csrf=csrf_token(token),
        reviewer=reviewer_name(request),
        principal=principal,
    )


def render(
    request: Request,
    session: Session | None,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    base = {
        "session": session,
        "root": gateway_root(request),
        "csrf": session.csrf if session else "",
        "reviewer": session.reviewer if session else "",
        # Whether the session's token may change things (write scope): the controls of
        # changes are left out or disabled otherwise (see Session.needs for the reason).
        "can_write": session.principal.allows("write") if session else False,
        "version": __version__,
        "nav": "",
    }
    response = ui_state(request).templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page that needs the session: the login page otherwise; domain errors (an unknown
    id, a bad filter) become an error page with the API's message."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            query = urlencode({"next": target})
            return RedirectResponse(f"{gateway_root(request)}/ui/login?{query}", status_code=303)
        try:
            return await handler(request, session)
        except DomainError as exc:
            return render(
                request,
                session,
                "error.html",
                {"status": exc.status_code, "code": exc.code, "message": exc.message},
                status_code=exc.status_code,
            )

    return endpoint


def cursor(request: Request) -> str | None:
    """The ``?cursor=`` of a paged list (an empty one is none)."""
    return request.query_params.get("cursor") or None


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, cut after ``limit`` bytes (the pages' forms are small; more is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            break
        chunks.append(chunk)
    return b"".join(chunks)
