"""Judge panels, panel runs and their aggregate judgments, and the review queue
(docs/panels.md). The use cases are in ``releval_judge.services.panels``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.panels.models import (
    JudgePanelCreate,
    PanelJudgmentParams,
    PanelRunCreate,
    ReviewQueueParams,
)
from releval_judge.params import PageParams
from releval_judge.services import panels
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


async def create_panel(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, JudgePanelCreate, svc.settings.max_body_bytes)
    return model_response(await panels.create_panel(svc, body), 201)


async def list_panels(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await panels.list_panels(services(request), limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def get_panel(request: Request) -> Response:
    panel = await panels.get_panel(services(request), request.path_params["panel_id"])
    return model_response(panel)


async def delete_panel(request: Request) -> Response:
    await panels.delete_panel(services(request), request.path_params["panel_id"])
    return Response(status_code=204)


async def start_panel_run(request: Request) -> Response:
    """Start one judging run per member; the aggregate is written when all have ended."""
    svc = services(request)
    body = await read_model(request, PanelRunCreate, svc.settings.max_body_bytes)
    run = await panels.start_panel_run(svc, request.path_params["run_id"], body, by=actor(request))
    return model_response(run, 201)


async def list_panel_runs(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await panels.list_panel_runs(
        services(request), request.path_params["run_id"], limit=params.limit, cursor=params.cursor
    )
    return model_response(page)


async def get_panel_run(request: Request) -> Response:
    run = await panels.get_panel_run(services(request), request.path_params["panel_run_id"])
    return model_response(run)


async def cancel_panel_run(request: Request) -> Response:
    run = await panels.cancel_panel_run(
        services(request), request.path_params["panel_run_id"], by=actor(request)
    )
    return model_response(run)


async def list_panel_judgments(request: Request) -> Response:
    params = read_query(request, PanelJudgmentParams)
    page = await panels.list_panel_judgments(
        services(request),
        request.path_params["panel_run_id"],
        disagreement=params.disagreement,
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)


async def review_queue(request: Request) -> Response:
    """Candidates without a human grade, highest priority first (panels/queue.py)."""
    params = read_query(request, ReviewQueueParams)
    queue = await panels.review_queue(services(request), request.path_params["run_id"], params)
    return model_response(queue)
