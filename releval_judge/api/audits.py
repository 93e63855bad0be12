"""Audits of AI judging runs (DESIGN.md, "Audits"; docs/reviewing.md, "Auditing a
judge"). The use cases are in ``releval_judge.services.audits``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models.audits import AuditCreate
from releval_judge.params import PageParams
from releval_judge.services import audits
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


async def create_audit(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, AuditCreate, svc.settings.max_body_bytes)
    audit = await audits.create_audit(
        svc, request.path_params["judging_run_id"], body, by=actor(request)
    )
    return model_response(audit, 201)


async def get_audit(request: Request) -> Response:
    return model_response(
        await audits.get_audit(services(request), request.path_params["audit_id"])
    )


async def cancel_audit(request: Request) -> Response:
    audit = await audits.cancel_audit(services(request), request.path_params["audit_id"])
    return model_response(audit)


async def list_run_audits(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await audits.list_run_audits(
        services(request),
        request.path_params["judging_run_id"],
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)
