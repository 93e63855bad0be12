"""Audits of AI judging runs (DESIGN.md, "Audits"): queue one, read one or a run's,
cancel one. The audit itself runs in ``engine.audits``, on the replica that claims it."""

from __future__ import annotations

from releval_judge.models import Page
from releval_judge.models.audits import Audit, AuditCreate
from releval_judge.services import Services


async def create_audit(svc: Services, judging_run_id: str, body: AuditCreate, *, by: str) -> Audit:
    """Queue an audit of the run (404 unknown run, 409 ``nothing_to_audit`` when it judged
    no candidate) for the next judging replica's claim; returns it queued."""
    return await svc.audits.create(judging_run_id, body, created_by=by)


async def get_audit(svc: Services, audit_id: str) -> Audit:
    return await svc.audits.audits.get_audit(audit_id)


async def cancel_audit(svc: Services, audit_id: str) -> Audit:
    """Cancel a queued or running audit (409 ``audit_ended`` once ended)."""
    return await svc.audits.cancel(audit_id)


async def list_run_audits(
    svc: Services, judging_run_id: str, *, limit: int, cursor: str | None
) -> Page[Audit]:
    """A page of the run's audits, newest first (404 unknown run)."""
    return await svc.audits.audits.list_run_audits(judging_run_id, limit=limit, cursor=cursor)
