"""Judge panels, panel runs and their aggregate judgments, and the review queue
(docs/panels.md). Orchestration is in ``releval_judge.panels.runs``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import ValidationFailed
from releval_judge.panels.models import (
    JudgePanelCreate,
    PanelJudgmentParams,
    PanelRunCreate,
    ReviewQueue,
    ReviewQueueParams,
)
from releval_judge.panels.queue import WEIGHTS, Queue
from releval_judge.params import PageParams
from releval_judge.review.agreement import default_relevant_from
from releval_judge.store.panels import PanelStore
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


def _store(request: Request) -> PanelStore:
    return PanelStore(services(request).store.pool)


async def create_panel(request: Request) -> Response:
    body = await read_model(request, JudgePanelCreate, services(request).settings.max_body_bytes)
    return model_response(await _store(request).create_panel(body), 201)


async def list_panels(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await _store(request).list_panels(limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def get_panel(request: Request) -> Response:
    return model_response(await _store(request).get_panel(request.path_params["panel_id"]))


async def delete_panel(request: Request) -> Response:
    await _store(request).delete_panel(request.path_params["panel_id"])
    return Response(status_code=204)


async def start_panel_run(request: Request) -> Response:
    """Start one judging run per member; the aggregate is written when all have ended."""
    svc = services(request)
    body = await read_model(request, PanelRunCreate, svc.settings.max_body_bytes)
    run = await svc.panels.start_panel_run(
        request.path_params["run_id"], body.panel_id, body.scope, created_by=actor(request)
    )
    return model_response(run, 201)


async def list_panel_runs(request: Request) -> Response:
    svc = services(request)
    params = read_query(request, PageParams)
    run_id = request.path_params["run_id"]
    await svc.store.get_evaluation_run(run_id)  # NotFound: 404
    page = await _store(request).list_panel_runs(run_id, limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def get_panel_run(request: Request) -> Response:
    return model_response(await _store(request).get_panel_run(request.path_params["panel_run_id"]))


async def cancel_panel_run(request: Request) -> Response:
    run = await services(request).panels.cancel(
        request.path_params["panel_run_id"], by=actor(request)
    )
    return model_response(run)


async def list_panel_judgments(request: Request) -> Response:
    params = read_query(request, PanelJudgmentParams)
    page = await _store(request).list_panel_judgments(
        request.path_params["panel_run_id"],
        disagreement=params.disagreement,
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)


async def review_queue(request: Request) -> Response:
    """Candidates without a human grade, highest priority first (panels/queue.py)."""
    svc = services(request)
    params = read_query(request, ReviewQueueParams)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    scale = evaluation.scale
    relevant = params.relevant_min_grade
    if relevant is None:
        relevant = default_relevant_from(scale.min, scale.max)
    elif not scale.min < relevant <= scale.max:
        raise ValidationFailed(
            f"relevant_min_grade {relevant} must be above the scale's lowest grade and at most "
            f"its highest ({scale.min + 1}–{scale.max})",
            details=[{"loc": ["query", "relevant_min_grade"], "input": relevant}],
        )
    store = _store(request)
    panel_run_id = await store.latest_completed_panel_run(evaluation.id)
    queue = Queue(relevant, params.limit)
    async for candidate in store.queue_candidates(evaluation.id, panel_run_id):
        queue.add(candidate)
    return model_response(
        ReviewQueue(
            evaluation_run_id=evaluation.id,
            relevant_min_grade=relevant,
            panel_run_id=panel_run_id,
            weights=WEIGHTS,
            items=queue.items(),
        )
    )
