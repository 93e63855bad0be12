"""Evaluation runs: create, list, get, patch, and bulk NDJSON import of candidates
(``services.evaluation_runs``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models import EvaluationRunCreate, EvaluationRunPatch
from releval_judge.params import PageParams
from releval_judge.services import evaluation_runs
from releval_judge.web.auth import services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.ndjson import ndjson_spool
from releval_judge.web.responses import model_response


async def create_evaluation_run(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, EvaluationRunCreate, svc.settings.max_body_bytes)
    run = await evaluation_runs.create_evaluation_run(svc, body)
    return model_response(run, 201)


async def list_evaluation_runs(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await evaluation_runs.list_evaluation_runs(
        services(request), limit=params.limit, cursor=params.cursor
    )
    return model_response(page)


async def get_evaluation_run(request: Request) -> Response:
    run = await evaluation_runs.get_evaluation_run(services(request), request.path_params["run_id"])
    return model_response(run)


async def patch_evaluation_run(request: Request) -> Response:
    svc = services(request)
    patch = await read_model(request, EvaluationRunPatch, svc.settings.max_body_bytes)
    run = await evaluation_runs.patch_evaluation_run(svc, request.path_params["run_id"], patch)
    return model_response(run)


async def import_candidates(request: Request) -> Response:
    """NDJSON body, one candidate a line, at most RELEVAL_MAX_IMPORT_BYTES.

    The body is received whole (spooled, each line checked as it arrives) before one short
    transaction COPYs it in: a slow or stalled upload holds no database connection.
    """
    svc = services(request)
    with ndjson_spool(request, svc.settings.max_import_bytes) as spool:
        result = await evaluation_runs.import_candidates(svc, request.path_params["run_id"], spool)
    return model_response(result, 201)
