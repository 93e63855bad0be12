"""Logging in and out of the web UI: the token goes into the HTTP-only session cookie
(``session.py``), checked the way the API checks it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from releval_judge.ui.pages import gateway_root, read_limited, render, ui_state
from releval_judge.ui.session import (
    CSRF_FIELD,
    SAME_ORIGIN,
    clear_session,
    csrf_ok,
    reviewer_name,
    session_token,
    set_reviewer,
    set_session,
)

LOGIN_BODY_MAX = 64 * 1024


def _safe_next(root: str, target: str | None) -> str:
    """Only a path of the UI itself: never another host (an open redirect)."""
    default = f"{root}/ui/runs"
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "\\" in target:
        return default
    if not parts.path.startswith(f"{root}/ui/"):
        return default
    return target


async def _form(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each), from a body of at most LOGIN_BODY_MAX."""
    body = await read_limited(request, LOGIN_BODY_MAX)
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}


async def home(request: Request) -> Response:
    return RedirectResponse(f"{gateway_root(request)}/ui/runs", status_code=303)


def _login_page(
    request: Request, target: str, error: str | None, reviewer: str, *, status_code: int = 200
) -> Response:
    """The login form; it names the development token's file (the path the service
    actually uses, ``RELEVAL_DATA_DIR/dev-token``) when the service made one."""
    token_file = ui_state(request).dev_token_file
    return render(
        request,
        None,
        "login.html",
        {
            "next": target,
            "error": error,
            "reviewer": reviewer,
            "dev_token_file": None if token_file is None else str(token_file),
        },
        status_code=status_code,
    )


async def login_form(request: Request) -> Response:
    target = _safe_next(gateway_root(request), request.query_params.get("next"))
    return _login_page(request, target, None, reviewer_name(request))


async def login(request: Request) -> Response:
    """Check the token like the API would; keep it in the HTTP-only session cookie."""
    root = gateway_root(request)
    fetch_site = request.headers.get("sec-fetch-site")
    form = await _form(request)
    target = _safe_next(root, form.get("next"))
    token = form.get("token", "").strip()
    reviewer = form.get("reviewer", "").strip().replace("/", "-")[:200]
    error = None
    if fetch_site is not None and fetch_site not in SAME_ORIGIN:
        error = "Log in from this service's own login page."
    elif not token:
        error = "Enter an API token."
    elif not await ui_state(request).check(token):
        error = "That token is not valid."
    if error is not None:
        return _login_page(request, target, error, reviewer, status_code=401)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    set_session(response, token, root_path=root, secure=secure)
    if reviewer:
        set_reviewer(response, reviewer, root_path=root, secure=secure)
    return response


async def logout(request: Request) -> Response:
    """POST with the page's CSRF token, so that another site cannot log a user out."""
    root = gateway_root(request)
    form = await _form(request)
    token = session_token(request)
    if token is not None and not csrf_ok(
        token, form.get(CSRF_FIELD), request.headers.get("sec-fetch-site")
    ):
        return Response("cross-site logout refused", status_code=403, media_type="text/plain")
    response = RedirectResponse(f"{root}/ui/login", status_code=303)
    clear_session(response, root_path=root)
    return response
