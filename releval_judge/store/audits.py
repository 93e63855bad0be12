"""Reads and writes of audits (DESIGN.md, "Audits"). Queries are the named blocks of
``audits.sql``. An audit's grades are never stored: only its figures and usage, so an
audit cannot change a run's judgments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.errors import AuditEnded, NothingToAudit
from releval_judge.models import JudgeConfig, Page
from releval_judge.models.audits import Audit, AuditStatus, PassAgreement, PositionEffect, Verdict
from releval_judge.scale import Scale
from releval_judge.store.batches import PendingCandidate, candidate_fields
from releval_judge.store.evaluation_runs import get_evaluation_run
from releval_judge.store.judging_runs import get_judging_run, run_cost
from releval_judge.store.pages import fetch_one, page, parse_uuid, time_cursor, time_key
from releval_judge.store.sql import fill, queries

Q = queries()
GET_AUDIT = fill(Q["get_audit"], audit_columns=Q["audit_columns"])
LIST_RUN_AUDITS = fill(Q["list_run_audits"], audit_columns=Q["audit_columns"])


@dataclass(frozen=True)
class AuditCandidate(PendingCandidate):
    """A candidate drawn for an audit, with the grade the audited run gave it."""

    grade: int


@dataclass(frozen=True)
class AuditFigures:
    repeat: PassAgreement
    order: PassAgreement
    position: PositionEffect
    verdict: Verdict


@dataclass(frozen=True)
class AuditEnd:
    """What an attempt writes when it ends; ``figures`` only when completed."""

    status: AuditStatus
    failed: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    figures: AuditFigures | None = None
    error: str | None = None


@dataclass(frozen=True)
class AuditWork:
    """What the runner needs to run an audit: its run's judge snapshot and scale."""

    audit: Audit
    config: JudgeConfig
    scale: Scale
    attempt: int


def audit(row: asyncpg.Record) -> Audit:
    figures: dict[str, Any] = row["figures"] or {}
    return Audit(
        id=str(row["id"]),
        ai_judging_run_id=str(row["ai_judging_run_id"]),
        evaluation_run_id=str(row["evaluation_run_id"]),
        status=row["status"],
        seed=row["seed"],
        sample_size=row["sample_size"],
        failed=row["failed"],
        calls=row["calls"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        # Audits call live, whatever the judge's delivery (as a judge test does).
        cost=run_cost(
            row["judge_config"],
            delivery="live",
            input_tokens=row["input_tokens"],
            cached_input_tokens=0,
            output_tokens=row["output_tokens"],
        ),
        repeat=figures.get("repeat"),
        order=figures.get("order"),
        position=figures.get("position"),
        verdict=figures.get("verdict"),
        error=row["error"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


class AuditStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_audit(
        self, judging_run_id: str, *, sample_size: int, seed: int, created_by: str | None
    ) -> Audit:
        """Queue an audit of the run; NotFound for an unknown run, NothingToAudit when
        the run has judged no candidate (yet)."""
        run = await get_judging_run(self.pool, judging_run_id)
        uuid = UUID(run.id)
        async with self.pool.acquire() as conn:
            judged = await conn.fetchval(Q["count_run_judgments"], uuid)
            if judged == 0:
                raise NothingToAudit(run.id, run.status)
            audit_id = await conn.fetchval(Q["insert_audit"], uuid, sample_size, seed, created_by)
        return await self.get_audit(str(audit_id))

    async def get_audit(self, audit_id: str) -> Audit:
        return audit(await fetch_one(self.pool, GET_AUDIT, "audit", audit_id))

    async def list_run_audits(
        self, judging_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[Audit]:
        """A page of the run's audits, newest first; NotFound for an unknown run."""
        after_at, after_id = time_cursor(cursor)
        uuid = parse_uuid(judging_run_id, "AI judging run")
        rows = await self.pool.fetch(LIST_RUN_AUDITS, uuid, after_at, after_id, limit + 1)
        if not rows:
            # Only an empty page can be that of an unknown run: one query, not two.
            await get_judging_run(self.pool, judging_run_id)
        return page(Page[Audit], rows, limit, audit, time_key())

    async def start_audit(self, audit_id: str) -> AuditWork | None:
        """Take the next attempt of an unended audit and mark it running; None when it
        ended meanwhile (cancelled)."""
        uuid = parse_uuid(audit_id, "audit")
        attempt = await self.pool.fetchval(Q["start_audit"], uuid)
        if attempt is None:
            return None
        row = await fetch_one(self.pool, GET_AUDIT, "audit", audit_id)
        evaluation = await get_evaluation_run(self.pool, str(row["evaluation_run_id"]))
        return AuditWork(
            audit=audit(row),
            config=JudgeConfig.model_validate(row["judge_config"]),
            scale=evaluation.scale,
            attempt=attempt,
        )

    async def sample(self, judging_run_id: str, *, seed: int, size: int) -> list[AuditCandidate]:
        """Up to ``size`` of the run's judged candidates with its grades: whole queries in
        an order fixed by ``seed`` (the last one cut at ``size``), each in rank order."""
        rows = await self.pool.fetch(Q["audit_sample"], UUID(judging_run_id), str(seed), size)
        return [AuditCandidate(**candidate_fields(r), grade=r["grade"]) for r in rows]

    async def set_sample_size(self, audit_id: str, attempt: int, size: int) -> None:
        await self.pool.execute(Q["set_audit_sample_size"], UUID(audit_id), attempt, size)

    async def finish_audit(self, audit_id: str, attempt: int, end: AuditEnd) -> bool:
        """Write the end of ``attempt``; False when the audit was cancelled meanwhile or a
        later attempt took it (nothing written)."""
        figures = None
        if end.figures is not None:
            figures = {
                "repeat": end.figures.repeat.model_dump(mode="json"),
                "order": end.figures.order.model_dump(mode="json"),
                "position": end.figures.position.model_dump(mode="json"),
                "verdict": end.figures.verdict,
            }
        written = await self.pool.fetchval(
            Q["finish_audit"],
            UUID(audit_id),
            attempt,
            end.status,
            figures,
            end.error,
            end.failed,
            end.calls,
            end.input_tokens,
            end.output_tokens,
        )
        return written is not None

    async def cancel_audit(self, audit_id: str) -> Audit:
        """Mark an unended audit cancelled; AuditEnded once it ended."""
        uuid = parse_uuid(audit_id, "audit")
        if await self.pool.fetchval(Q["cancel_audit"], uuid) is None:
            existing = await self.get_audit(audit_id)
            raise AuditEnded(audit_id, existing.status)
        return await self.get_audit(audit_id)

    async def unended_audits(self) -> list[str]:
        return [str(r["id"]) for r in await self.pool.fetch(Q["unended_audits"])]
