"""The web UI's session: the API token in an HTTP-only cookie, and CSRF protection.

The login page checks a token the way the API does and stores it in the ``releval_session``
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS). No session state lives
on the server: every request is authenticated by the token itself, so revoking a token
ends its sessions too. See docs/ui.md.

The UI's JavaScript calls the JSON API (``/api/v1/...``) with that cookie.
:class:`CookieSessionMiddleware` turns the cookie into the ``Authorization: Bearer`` header
that :class:`~releval_judge.web.middleware.BearerAuthMiddleware` checks, so the API has one
notion of authentication. A browser attaches cookies to requests that other sites make, so
a request authenticated by the cookie that can change something (any method but GET, HEAD
and OPTIONS) must also carry ``X-CSRF-Token``: an HMAC of the token that only pages of the
UI know (it is written into each page; the cookie itself cannot be read by scripts). A
browser that says the request came from another origin (``Sec-Fetch-Site``) is refused
too. A request with its own ``Authorization`` header ignores the cookie entirely.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import quote, unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from releval_judge.web.errors import error_response
from releval_judge.web.middleware import route_path

COOKIE = "releval_session"
REVIEWER_COOKIE = "releval_reviewer"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values of a request the page itself made ("none": typed by the user).
SAME_ORIGIN = frozenset({"same-origin", "none"})


def csrf_token(token: str) -> str:
    """What the UI's pages send back with every change: keyed by the session's secret,
    so another site can neither read it from the cookie nor compute it."""
    return hmac.new(token.encode(), b"releval-ui-csrf-v1", hashlib.sha256).hexdigest()


def csrf_ok(token: str, sent: str | None, fetch_site: str | None) -> bool:
    """True when a cookie-authenticated change may go through."""
    if fetch_site is not None and fetch_site not in SAME_ORIGIN:
        return False
    return sent is not None and hmac.compare_digest(sent, csrf_token(token))


def session_token(conn: HTTPConnection) -> str | None:
    """The token in the session cookie (not yet checked), or None."""
    return _decode(conn.cookies.get(COOKIE))


def _encode(token: str) -> str:
    # Any token works as a cookie value this way (static tokens may hold ';' or spaces).
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode(value: str | None) -> str | None:
    if not value:
        return None
    try:
        token = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return token or None


def reviewer_name(conn: HTTPConnection) -> str:
    """The reviewer's name, percent-encoded in its cookie (the review page's script may
    set it too, with ``encodeURIComponent``)."""
    return unquote(conn.cookies.get(REVIEWER_COOKIE, ""))


def cookie_path(root_path: str) -> str:
    return (root_path or "") + "/"


def set_session(response: Response, token: str, *, root_path: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        _encode(token),
        max_age=SESSION_MAX_AGE_S,
        path=cookie_path(root_path),
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def set_reviewer(response: Response, name: str, *, root_path: str, secure: bool) -> None:
    """The name human judgments are recorded under; not secret (the page may change it)."""
    response.set_cookie(
        REVIEWER_COOKIE,
        quote(name, safe=""),
        max_age=365 * 24 * 3600,
        path=cookie_path(root_path),
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def clear_session(response: Response, *, root_path: str) -> None:
    response.delete_cookie(COOKIE, path=cookie_path(root_path), httponly=True, samesite="strict")


class CookieSessionMiddleware:
    """Authenticate API requests from the UI's pages by the session cookie (see module)."""

    def __init__(self, app: ASGIApp, api_prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = _decode(cookie_parser(headers.get("cookie", "")).get(COOKIE))
        if "authorization" in headers or not token:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and not csrf_ok(
            token, headers.get(CSRF_HEADER), headers.get("sec-fetch-site")
        ):
            response = error_response(
                403,
                "csrf_rejected",
                "a change made with the UI's session cookie needs the page's X-CSRF-Token "
                "header and must come from the UI itself; API clients send "
                "'Authorization: Bearer <token>'",
            )
            await response(scope, receive, send)
            return
        MutableHeaders(scope=scope)["authorization"] = f"Bearer {token}"
        await self.app(scope, receive, send)
