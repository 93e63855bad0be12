"""Evaluation runs: create, list, get, patch, and bulk NDJSON import of candidates."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import EvaluationRunLocked
from releval_judge.models import EvaluationRunCreate, EvaluationRunPatch
from releval_judge.params import PageParams
from releval_judge.web.auth import services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.ndjson import ndjson_spool
from releval_judge.web.responses import model_response


async def create_evaluation_run(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, EvaluationRunCreate, svc.settings.max_body_bytes)
    run = await svc.store.create_evaluation_run(body)
    return model_response(run, 201)


async def list_evaluation_runs(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await services(request).store.list_evaluation_runs(
        limit=params.limit, cursor=params.cursor
    )
    return model_response(page)


async def get_evaluation_run(request: Request) -> Response:
    run = await services(request).store.get_evaluation_run(request.path_params["run_id"])
    return model_response(run)


async def patch_evaluation_run(request: Request) -> Response:
    svc = services(request)
    patch = await read_model(request, EvaluationRunPatch, svc.settings.max_body_bytes)
    run = await svc.store.patch_evaluation_run(request.path_params["run_id"], patch)
    return model_response(run)


async def import_candidates(request: Request) -> Response:
    """NDJSON body, one candidate a line, at most RELEVAL_MAX_IMPORT_BYTES.

    The body is received whole (spooled, each line checked as it arrives) before one short
    transaction COPYs it in: a slow or stalled upload holds no database connection.
    """
    svc = services(request)
    run_id = request.path_params["run_id"]
    # What cannot succeed is refused before the body is read (a client that waits for
    # "100 Continue" never sends it); the transaction checks again.
    run = await svc.store.get_evaluation_run(run_id)
    if run.locked:
        raise EvaluationRunLocked(run_id)
    with ndjson_spool(svc.settings.max_import_bytes) as spool:
        await spool.receive(request)
        result = await svc.store.import_candidates(run_id, spool.candidates())
    return model_response(result, 201)
