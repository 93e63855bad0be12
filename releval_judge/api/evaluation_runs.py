"""Evaluation runs: create, list, get, patch, and bulk NDJSON import of candidates."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.api.body import read_model, read_query, summarise, validation_details
from releval_judge.api.params import PageParams
from releval_judge.api.responses import model_response
from releval_judge.api.services import services
from releval_judge.errors import InvalidJson, ValidationFailed
from releval_judge.models import CandidateLine, EvaluationRunCreate, EvaluationRunPatch


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
    """NDJSON body, one candidate a line; streamed into COPY, never held whole in memory."""
    store = services(request).store
    result = await store.import_candidates(request.path_params["run_id"], _ndjson(request))
    return model_response(result, 201)


MAX_LINE_BYTES = 16 * 1024 * 1024


async def _ndjson(request: Request) -> AsyncIterator[CandidateLine]:
    buffer = b""
    line_no = 0
    async for chunk in request.stream():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > MAX_LINE_BYTES:
            raise ValidationFailed(
                f"line {line_no + len(lines) + 1} is longer than {MAX_LINE_BYTES} bytes; "
                "nothing was imported"
            )
        for raw in lines:
            line_no += 1
            if raw.strip():
                yield _parse_line(raw, line_no)
    line_no += 1
    if buffer.strip():
        yield _parse_line(buffer, line_no)


def _parse_line(raw: bytes, line_no: int) -> CandidateLine:
    try:
        return CandidateLine.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidJson(f"line {line_no}: malformed JSON; nothing was imported") from exc
        details = validation_details(exc, prefix=f"line {line_no}")
        raise ValidationFailed(
            f"line {line_no}: {summarise(details)}; nothing was imported", details=details
        ) from exc
