"""AI judging runs: start one on an evaluation run, list, get, cancel, list failures
(``services.judging_runs``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models import JudgingRunCreate
from releval_judge.params import PageParams
from releval_judge.services import judging_runs
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import conditional_response, model_response


async def start_judging_run(request: Request) -> Response:
    """Queue a judging run (prerequisites checked in one transaction); a replica that
    judges claims it at once."""
    svc = services(request)
    body = await read_model(request, JudgingRunCreate, svc.settings.max_body_bytes)
    run = await judging_runs.start_judging_run(
        svc,
        request.path_params["run_id"],
        body,
        by=actor(request),
        request_id=getattr(request.state, "request_id", None),
    )
    return model_response(run, 201)


async def list_judging_runs(request: Request) -> Response:
    """The page with an ETag; 304 when If-None-Match names it (nothing changed)."""
    params = read_query(request, PageParams)
    page = await judging_runs.list_judging_runs(
        services(request), request.path_params["run_id"], limit=params.limit, cursor=params.cursor
    )
    return conditional_response(request, page)


async def get_judging_run(request: Request) -> Response:
    """The run with an ETag; 304 when If-None-Match names it (nothing changed)."""
    run = await judging_runs.get_judging_run(
        services(request), request.path_params["judging_run_id"]
    )
    return conditional_response(request, run)


async def cancel_judging_run(request: Request) -> Response:
    """Stop new provider calls first, then record the cancellation; 409 once ended."""
    run = await judging_runs.cancel_judging_run(
        services(request), request.path_params["judging_run_id"], by=actor(request)
    )
    return model_response(run)


async def list_failures(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await judging_runs.list_failures(
        services(request),
        request.path_params["judging_run_id"],
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)
