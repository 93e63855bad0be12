"""Reads and writes of audits (DESIGN.md, "Audits"). Queries are the named blocks of
``audits.sql``. An audit's grades are kept in ``audit_answers`` (so that a resumed audit
asks only what is unanswered), never as judgments: an audit cannot change a run's.

Audits are claimed like judging runs (``store/leases.py``): a :class:`Lease` (owner, and
the audit's ``attempt`` as its epoch), renewed by the holder's heartbeat; every write of a
running audit names it and is refused once another claim took the audit over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from releval_judge.errors import AuditEnded, NothingToAudit
from releval_judge.models import JudgeConfig, Page
from releval_judge.models.audits import Audit, AuditStatus, PassAgreement, PositionEffect, Verdict
from releval_judge.scale import Scale
from releval_judge.store.batches import PendingCandidate, candidate_fields
from releval_judge.store.evaluation_runs import get_evaluation_run
from releval_judge.store.judging_runs import Lease, get_judging_run, notify_work, run_cost
from releval_judge.store.leases import lease_arrays
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


AuditPass = Literal["repeat", "order"]


@dataclass(frozen=True)
class AuditEnd:
    """What an attempt writes when it ends; ``figures`` only when completed. Its usage is
    not here: it was added batch by batch (:meth:`AuditStore.record_batch`)."""

    status: AuditStatus
    failed: int = 0
    figures: AuditFigures | None = None
    error: str | None = None


@dataclass(frozen=True)
class AnsweredBatch:
    """One answered call of a pass: the grades it got, by candidate, and its usage."""

    grades: dict[str, int]
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class AuditWork:
    """What the runner needs to run an audit: its run's judge snapshot and scale, and the
    claim under which it runs."""

    audit: Audit
    config: JudgeConfig
    scale: Scale
    lease: Lease


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
            # One transaction: the audit is read as queued before any replica can claim
            # it, and every judging replica's claim loop is woken at the commit.
            async with conn.transaction():
                audit_id = await conn.fetchval(
                    Q["insert_audit"], uuid, sample_size, seed, created_by
                )
                row = await conn.fetchrow(GET_AUDIT, audit_id)
                await notify_work(conn)
        assert row is not None  # inserted in this transaction
        return audit(row)

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

    async def claim_audits(
        self,
        owner: str,
        *,
        ttl_s: float,
        limit: int,
        include_own: bool = False,
        exclude: Sequence[str] = (),
    ) -> dict[str, Lease]:
        """Claim up to ``limit`` free audits (queued, or running with a lapsed claim), oldest
        first, for ``ttl_s`` seconds, as ``claim_judging_runs`` claims runs; with
        ``include_own`` also those ``owner`` held before a restart. Audits locked by another
        claim are skipped, never waited for."""
        rows = await self.pool.fetch(
            Q["claim_audits"], owner, ttl_s, limit, include_own, [UUID(a) for a in exclude]
        )
        return {str(r["id"]): Lease(owner=owner, epoch=r["attempt"]) for r in rows}

    async def renew_claims(
        self, owner: str, leases: dict[str, Lease], *, ttl_s: float
    ) -> dict[str, AuditStatus]:
        """Extend ``leases`` by ``ttl_s``; the audits still held, with their status."""
        rows = await self.pool.fetch(Q["renew_audit_claims"], owner, ttl_s, *lease_arrays(leases))
        return {str(r["id"]): r["status"] for r in rows}

    async def release_claims(self, owner: str, leases: dict[str, Lease]) -> None:
        """Give ``leases`` back now: another replica may take the audits over at once."""
        await self.pool.execute(Q["release_audit_claims"], owner, *lease_arrays(leases))

    async def work(self, audit_id: str, lease: Lease) -> AuditWork:
        """What running a claimed audit needs."""
        row = await fetch_one(self.pool, GET_AUDIT, "audit", audit_id)
        evaluation = await get_evaluation_run(self.pool, str(row["evaluation_run_id"]))
        return AuditWork(
            audit=audit(row),
            config=JudgeConfig.model_validate(row["judge_config"]),
            scale=evaluation.scale,
            lease=lease,
        )

    async def sample(self, audit: Audit) -> list[AuditCandidate]:
        """Up to the audit's ``sample_size`` of its run's candidates judged before it was
        queued, with the run's grades: whole queries in an order fixed by its seed (the last
        one cut at the size), each in rank order. The same every time it is drawn."""
        rows = await self.pool.fetch(
            Q["audit_sample"],
            UUID(audit.ai_judging_run_id),
            str(audit.seed),
            audit.sample_size,
            UUID(audit.id),
        )
        return [AuditCandidate(**candidate_fields(r), grade=r["grade"]) for r in rows]

    async def set_sample_size(self, audit_id: str, lease: Lease, size: int) -> None:
        await self.pool.execute(
            Q["set_audit_sample_size"], UUID(audit_id), lease.epoch, size, lease.owner
        )

    async def record_batch(
        self, audit_id: str, lease: Lease, pass_name: AuditPass, batch: AnsweredBatch
    ) -> bool:
        """Keep one answered batch of a pass with its usage, in one statement; False when
        the claim was lost (nothing written). Written after a cancel too: what the audit
        spent before it stopped is counted."""
        ids = list(batch.grades)
        held: int = await self.pool.fetchval(
            Q["record_audit_batch"],
            UUID(audit_id),
            lease.epoch,
            lease.owner,
            pass_name,
            [UUID(i) for i in ids],
            [batch.grades[i] for i in ids],
            batch.calls,
            batch.input_tokens,
            batch.output_tokens,
        )
        return held > 0

    async def answers(self, audit_id: str) -> dict[AuditPass, dict[str, int]]:
        """The grades kept so far, by pass and candidate."""
        kept: dict[AuditPass, dict[str, int]] = {"repeat": {}, "order": {}}
        for row in await self.pool.fetch(Q["audit_answers"], UUID(audit_id)):
            kept[row["pass"]][str(row["candidate_id"])] = row["grade"]
        return kept

    async def finish_audit(self, audit_id: str, lease: Lease, end: AuditEnd) -> bool:
        """Write the end under ``lease`` and give the claim back; False when the audit was
        cancelled meanwhile or another claim took it over (nothing written)."""
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
            lease.epoch,
            lease.owner,
            end.status,
            figures,
            end.error,
            end.failed,
        )
        return written is not None

    async def cancel_audit(self, audit_id: str) -> Audit:
        """Mark an unended audit cancelled; AuditEnded once it ended."""
        uuid = parse_uuid(audit_id, "audit")
        if await self.pool.fetchval(Q["cancel_audit"], uuid) is None:
            existing = await self.get_audit(audit_id)
            raise AuditEnded(audit_id, existing.status)
        return await self.get_audit(audit_id)
