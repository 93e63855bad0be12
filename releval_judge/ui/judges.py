"""The pages of AI judges: the list, the form that creates or edits one (its changes go
to the API from the page's script), and the template preview it calls."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from releval_judge.prompt import DEFAULT_TEMPLATE, TemplateError
from releval_judge.services import evaluation_runs, judges
from releval_judge.ui.pages import Session, current_session, cursor, page, read_limited, render
from releval_judge.ui.session import CSRF_HEADER, csrf_ok
from releval_judge.web.auth import services

JUDGES_PER_PAGE = 50
# The evaluation runs a judge's page offers to test the judge on.
TEST_RUNS = 200
PREVIEW_BODY_MAX = 512 * 1024


@page
async def judges_page(request: Request, session: Session) -> Response:
    found = await judges.list_judges(
        services(request), limit=JUDGES_PER_PAGE, cursor=cursor(request)
    )
    return render(request, session, "judges.html", {"nav": "judges", "judges": found})


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
    svc = services(request)
    judge = await judges.get_judge(svc, request.path_params["judge_id"])
    runs = await evaluation_runs.list_evaluation_runs(svc, limit=TEST_RUNS, cursor=None)
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
    session = await current_session(request)
    if session is None:
        return JSONResponse({"error": {"message": "log in first"}}, status_code=401)
    if not csrf_ok(
        session.token, request.headers.get(CSRF_HEADER), request.headers.get("sec-fetch-site")
    ):
        return JSONResponse({"error": {"message": "missing or wrong CSRF token"}}, 403)
    body = await read_limited(request, PREVIEW_BODY_MAX + 1)
    if len(body) > PREVIEW_BODY_MAX:
        return JSONResponse({"error": {"message": "template too large to preview"}}, 413)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return JSONResponse({"error": {"message": "send a JSON object"}}, 400)
    source = payload.get("template") if isinstance(payload, dict) else None
    if source is not None and not isinstance(source, str):
        return JSONResponse({"error": {"message": "template must be a string"}}, 422)
    try:
        prompt = await judges.preview_template(services(request), source)
    except TemplateError as exc:
        return JSONResponse({"error": {"message": str(exc), "line": exc.line}}, status_code=422)
    return JSONResponse({"prompt": prompt})
