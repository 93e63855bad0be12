"""The web UI's pages: server-rendered with Jinja2 from the same store the API reads.

Every page needs the session cookie (see ``session.py``); without it, the login page.
Any valid token may log in and see every page. Changes are never made here: the pages'
JavaScript sends them to the JSON API, so the UI can do nothing the API refuses (scopes
included), and shows the API's own error messages. The pages leave out or disable the
controls of changes the session's token may not make, saying why (``Session.needs``).
The one JSON endpoint of the UI, the template preview, renders a template and changes
nothing: any session may use it.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from releval_judge import __version__
from releval_judge.access import Principal, Scope
from releval_judge.errors import DomainError
from releval_judge.models import EvaluationRun
from releval_judge.params import JudgmentParams
from releval_judge.prompt import (
    DEFAULT_TEMPLATE,
    PromptCandidate,
    TemplateError,
    TemplateLimits,
    compile_template,
    render_prompt,
)
from releval_judge.scale import Scale
from releval_judge.store.judgments import JudgmentFilter, list_judgments
from releval_judge.store.panels import PanelStore
from releval_judge.store.ui import UiStore
from releval_judge.ui.charts import grade_distribution_svg
from releval_judge.ui.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    clear_session,
    csrf_ok,
    csrf_token,
    reviewer_name,
    session_token,
    set_reviewer,
    set_session,
)
from releval_judge.web.auth import services
from releval_judge.web.middleware import TokenCheck

LOGIN_BODY_MAX = 64 * 1024
PREVIEW_BODY_MAX = 512 * 1024
JUDGING_RUNS_PER_PAGE = 20
JUDGMENTS_PER_PAGE = 50
FAILURES_PER_PAGE = 100
RUNS_PER_PAGE = 50

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

# The review page's sort choices (values are the API's ``sort`` parameter).
SORTS = [
    ("query_id,rank", "Query, rank"),
    ("-grade,rank", "Grade high → low"),
    ("grade,rank", "Grade low → high"),
    ("rank,query_id", "Rank"),
    ("-created_at", "Newest"),
]

PREVIEW_QUERY = "wireless headphones"
PREVIEW_CANDIDATES = (
    PromptCandidate(
        id="1",
        rank=1,
        doc_id="doc-1",
        title="Acme AH-1 wireless headphones",
        text="Over-ear Bluetooth headphones with 30 hours of battery.",
        fields={"brand": "Acme", "category": "audio"},
    ),
    PromptCandidate(
        id="2", rank=2, doc_id="doc-2", title="USB-C cable", text="Charging cable, 1 m."
    ),
)
PREVIEW_SCALE = Scale(min=0, max=3, labels={0: "irrelevant", 1: "related", 3: "perfect"})


# What the judging-run card of a run that is not there yet is rendered from: the page's
# script fills a copy in for a run it starts (see macros.html).
BLANK_RUN: dict[str, Any] = {
    "id": "",
    "evaluation_run_id": "",
    "ai_judge_id": None,
    "ai_judge_name": "",
    "status": "queued",
    "scope": "all",
    "total": 0,
    "judged": 0,
    "failed": 0,
    "progress": 0.0,
    "input_tokens": 0,
    "output_tokens": 0,
    "partially_judged": False,
    "error": None,
    "cost": None,
    "cached_input_tokens": 0,
    "max_cost": None,
    "delivery": "live",
    "provider_batches": [],
    "created_by": None,
    "cancelled_by": None,
}


@dataclass(frozen=True)
class UiState:
    """What the UI's handlers reach through ``request.app.state.ui``."""

    check: TokenCheck
    templates: Jinja2Templates


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


def _state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def _root(request: Request) -> str:
    """The gateway prefix (``RELEVAL_ROOT_PATH``), without the ``/ui`` mount point."""
    root: str = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    return root.rstrip("/")


async def _session(request: Request) -> Session | None:
    token = session_token(request)
    if token is None:
        return None
    principal = await _state(request).check(token)
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
        "root": _root(request),
        "csrf": session.csrf if session else "",
        "reviewer": session.reviewer if session else "",
        # Whether the session's token may change things (write scope): the controls of
        # changes are left out or disabled otherwise (see Session.needs for the reason).
        "can_write": session.principal.allows("write") if session else False,
        "version": __version__,
        "nav": "",
    }
    response = _state(request).templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page that needs the session: the login page otherwise; domain errors (an unknown
    id, a bad filter) become an error page with the API's message."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = await _session(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            query = urlencode({"next": target})
            return RedirectResponse(f"{_root(request)}/ui/login?{query}", status_code=303)
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


# --- login -----------------------------------------------------------------------------


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


async def home(request: Request) -> Response:
    return RedirectResponse(f"{_root(request)}/ui/runs", status_code=303)


async def login_form(request: Request) -> Response:
    return render(
        request,
        None,
        "login.html",
        {
            "next": _safe_next(_root(request), request.query_params.get("next")),
            "error": None,
            "reviewer": reviewer_name(request),
        },
    )


async def login(request: Request) -> Response:
    """Check the token like the API would; keep it in the HTTP-only session cookie."""
    root = _root(request)
    fetch_site = request.headers.get("sec-fetch-site")
    body = await _read_limited(request, LOGIN_BODY_MAX)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
    target = _safe_next(root, form.get("next"))
    token = form.get("token", "").strip()
    reviewer = form.get("reviewer", "").strip().replace("/", "-")[:200]
    error = None
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        error = "Log in from this service's own login page."
    elif not token:
        error = "Enter an API token."
    elif not await _state(request).check(token):
        error = "That token is not valid."
    if error is not None:
        return render(
            request,
            None,
            "login.html",
            {"next": target, "error": error, "reviewer": reviewer},
            status_code=401,
        )
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    set_session(response, token, root_path=root, secure=secure)
    if reviewer:
        set_reviewer(response, reviewer, root_path=root, secure=secure)
    return response


async def logout(request: Request) -> Response:
    """POST with the page's CSRF token, so that another site cannot log a user out."""
    root = _root(request)
    body = await _read_limited(request, LOGIN_BODY_MAX)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
    token = session_token(request)
    if token is not None and not csrf_ok(
        token, form.get(CSRF_FIELD), request.headers.get("sec-fetch-site")
    ):
        return Response("cross-site logout refused", status_code=403, media_type="text/plain")
    response = RedirectResponse(f"{root}/ui/login", status_code=303)
    clear_session(response, root_path=root)
    return response


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# --- evaluation runs -------------------------------------------------------------------


@page
async def runs_page(request: Request, session: Session) -> Response:
    cursor = request.query_params.get("cursor") or None
    runs = await services(request).store.list_evaluation_runs(limit=RUNS_PER_PAGE, cursor=cursor)
    return render(request, session, "runs.html", {"nav": "runs", "runs": runs})


def start_blocked_reason(evaluation: EvaluationRun) -> str | None:
    """Why AI judging cannot start on this run now, in the words the UI shows; None if it can."""
    if evaluation.status != "completed":
        return (
            f"This evaluation run is {evaluation.status}. AI judging needs a completed run: "
            "wait for it to finish."
        )
    if evaluation.locked:
        return "This evaluation run is locked: a locked run rejects every judgment change."
    return None


@page
async def run_page(request: Request, session: Session) -> Response:
    svc = services(request)
    run_id = request.path_params["run_id"]
    evaluation = await svc.store.get_evaluation_run(run_id)
    cursor = request.query_params.get("cursor") or None
    judging_runs = await svc.store.list_judging_runs(
        run_id, limit=JUDGING_RUNS_PER_PAGE, cursor=cursor
    )
    judges = await svc.store.list_judges(limit=1000, cursor=None)
    counts = await UiStore(svc.store).current_grade_counts(evaluation.id)
    panel_runs = await PanelStore(svc.store.pool).list_panel_runs(
        evaluation.id, limit=JUDGING_RUNS_PER_PAGE, cursor=None
    )
    return render(
        request,
        session,
        "run.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            "judging_runs": judging_runs,
            "panel_runs": panel_runs.items,
            "judges": judges.items,
            "blocked": session.needs("write", "starting AI judging")
            or start_blocked_reason(evaluation),
            "blank_run": BLANK_RUN,
            "distribution": grade_distribution_svg(
                counts, evaluation.scale, title="Current AI judgments per grade"
            )
            if counts
            else None,
        },
    )


# --- judging runs ----------------------------------------------------------------------


@page
async def judging_run_page(request: Request, session: Session) -> Response:
    svc = services(request)
    run = await svc.store.get_judging_run(request.path_params["judging_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    cursor = request.query_params.get("cursor") or None
    failures = await svc.store.list_failures(run.id, limit=FAILURES_PER_PAGE, cursor=cursor)
    ui = UiStore(svc.store)
    counts = await ui.run_grade_counts(run.id)
    human_judges = await ui.human_judges(evaluation.id)
    return render(
        request,
        session,
        "judging_run.html",
        {
            "nav": "runs",
            "run": run,
            "evaluation": evaluation,
            "blocked": session.needs("write", "starting AI judging")
            or start_blocked_reason(evaluation),
            "failures": failures,
            "human_judges": human_judges,
            "distribution": grade_distribution_svg(
                counts, evaluation.scale, title=f"Judgments of {run.ai_judge_name} per grade"
            )
            if counts
            else None,
        },
    )


# --- review ----------------------------------------------------------------------------


def _filters(request: Request) -> tuple[dict[str, str], JudgmentParams | None, str | None]:
    """The filter form's values (empty fields dropped) and the parsed parameters, or the
    reason they do not parse."""
    raw = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    try:
        return raw, JudgmentParams.model_validate({**raw, "limit": JUDGMENTS_PER_PAGE}), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "filter"
        return raw, None, f"{where}: {first['msg']}"


@page
async def review_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    raw, params, problem = _filters(request)
    items: list[Any] = []
    next_cursor = None
    beside: dict[str, Any] = {}
    if params is not None:
        try:
            judgments = await list_judgments(
                svc.store.pool,
                evaluation.id,
                filters=JudgmentFilter(
                    source=params.source,
                    grade=params.grade,
                    min_grade=params.min_grade,
                    max_grade=params.max_grade,
                    max_rank=params.max_rank,
                    query_id=params.query_id,
                    ai_judging_run_id=params.ai_judging_run_id,
                ),
                sort=params.sort,
                limit=params.limit,
                cursor=params.cursor,
            )
        except DomainError as exc:
            if exc.status_code == 404 and params.ai_judging_run_id is None:
                raise
            problem = exc.message
        else:
            items = judgments.items
            next_cursor = judgments.next_cursor
            beside = await UiStore(svc.store).judgments_of(
                evaluation.id, [j.candidate_id for j in items]
            )
    keep = {k: v for k, v in raw.items() if k != "cursor"}
    return render(
        request,
        session,
        "review.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            # Fields left empty read as "" in the form.
            "filters": defaultdict(str, keep),
            "problem": problem,
            "items": items,
            "beside": beside,
            "grades": list(range(evaluation.scale.min, evaluation.scale.max + 1)),
            "sorts": SORTS,
            "without_run": urlencode({k: v for k, v in keep.items() if k != "ai_judging_run_id"}),
            "next_query": urlencode({**keep, "cursor": next_cursor}) if next_cursor else None,
            "presets": {
                "relevant": urlencode({"source": "ai", "sort": "-grade,rank"}),
                "top_irrelevant": urlencode(
                    {
                        "source": "ai",
                        "max_grade": evaluation.scale.min,
                        "max_rank": 3,
                        "sort": "rank",
                    }
                ),
            },
        },
    )


# --- AI judges -------------------------------------------------------------------------


@page
async def judges_page(request: Request, session: Session) -> Response:
    cursor = request.query_params.get("cursor") or None
    judges = await services(request).store.list_judges(limit=RUNS_PER_PAGE, cursor=cursor)
    return render(request, session, "judges.html", {"nav": "judges", "judges": judges})


@page
async def new_judge_page(request: Request, session: Session) -> Response:
    return render(
        request,
        session,
        "judge.html",
        {"nav": "judges", "judge": None, "default_template": DEFAULT_TEMPLATE, "runs": []},
    )


@page
async def judge_page(request: Request, session: Session) -> Response:
    store = services(request).store
    judge = await store.get_judge(request.path_params["judge_id"])
    runs = await store.list_evaluation_runs(limit=200, cursor=None)
    return render(
        request,
        session,
        "judge.html",
        {
            "nav": "judges",
            "judge": judge,
            "default_template": DEFAULT_TEMPLATE,
            "runs": runs.items,
        },
    )


async def template_preview(request: Request) -> Response:
    """``POST /ui/template-preview`` ``{"template": "..."}``: the prompt a template renders
    for a sample batch, or where it fails. Writes nothing; needs the session and its
    CSRF header like any other change made with the cookie."""
    session = await _session(request)
    if session is None:
        return JSONResponse({"error": {"message": "log in first"}}, status_code=401)
    if not csrf_ok(
        session.token, request.headers.get(CSRF_HEADER), request.headers.get("sec-fetch-site")
    ):
        return JSONResponse({"error": {"message": "missing or wrong CSRF token"}}, 403)
    body = await _read_limited(request, PREVIEW_BODY_MAX + 1)
    if len(body) > PREVIEW_BODY_MAX:
        return JSONResponse({"error": {"message": "template too large to preview"}}, 413)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return JSONResponse({"error": {"message": "send a JSON object"}}, 400)
    source = payload.get("template") if isinstance(payload, dict) else None
    if source is not None and not isinstance(source, str):
        return JSONResponse({"error": {"message": "template must be a string"}}, 422)
    templates = services(request).templates
    try:
        # Off the event loop and within the limits of every render (time, size).
        prompt = await templates.run(
            _render_preview, source or DEFAULT_TEMPLATE, templates.limits, what="render a preview"
        )
    except TemplateError as exc:
        return JSONResponse({"error": {"message": str(exc), "line": exc.line}}, status_code=422)
    return JSONResponse({"prompt": prompt})


def _render_preview(source: str, limits: TemplateLimits) -> str:
    template = compile_template(source, limits)
    return render_prompt(
        template,
        query=PREVIEW_QUERY,
        candidates=PREVIEW_CANDIDATES,
        scale=PREVIEW_SCALE,
        limits=limits,
    )
