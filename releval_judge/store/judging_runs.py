"""AI judging runs: queued with every prerequisite checked in one transaction, read,
listed, cancelled, started and finished. Queries: ``judging_runs.sql``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.errors import (
    EvaluationRunLocked,
    EvaluationRunNotCompleted,
    JudgingRunEnded,
    TooManyActiveRuns,
    ValidationFailed,
)
from releval_judge.models import (
    Cost,
    Delivery,
    JudgeConfig,
    JudgePrices,
    JudgingRun,
    JudgingRunScope,
    Page,
    ReuseMode,
)
from releval_judge.store.database import Db, PoolUser
from releval_judge.store.evaluation_runs import get_evaluation_run, hold_evaluation_run
from releval_judge.store.judges import hold_judge
from releval_judge.store.pages import fetch_one, page, parse_uuid, seq_cursor, seq_key
from releval_judge.store.sql import queries

Q = queries()


@dataclass(frozen=True)
class Lease:
    """A replica's hold on a judging run: who, and at which claim (``epoch``, bumped by
    every claim). Every write of the run names it and is refused once it is outdated."""

    owner: str
    epoch: int


@dataclass(frozen=True)
class ActiveRun:
    """What the engine needs to (re)start a judging run; ``lease`` once claimed."""

    run: JudgingRun
    seq: int
    config: JudgeConfig
    lease: Lease | None = None
    request_id: str | None = None
    """The X-Request-ID of the request that started the run (bound into its logs)."""


def run_cost(
    config: Mapping[str, Any],
    *,
    delivery: Delivery,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
) -> Cost | None:
    """A run's cost at the prices of its judge snapshot (only their fields are read: this
    runs for every run of every status poll), batch discount and cached input included."""
    return JudgePrices.model_validate(config).cost(
        delivery,
        input_tokens=input_tokens,
        cached_input_tokens=cached_input_tokens,
        output_tokens=output_tokens,
    )


def judging_run(row: asyncpg.Record) -> JudgingRun:
    data = {k: row[k] for k in JudgingRun.model_fields if k in row.keys()}  # noqa: SIM118
    data["cost"] = run_cost(
        row["judge_config"],
        delivery=row["delivery"],
        input_tokens=row["input_tokens"],
        cached_input_tokens=row["cached_input_tokens"],
        output_tokens=row["output_tokens"],
    )
    data["id"] = str(data["id"])
    data["evaluation_run_id"] = str(data["evaluation_run_id"])
    data["ai_judge_id"] = str(data["ai_judge_id"]) if data["ai_judge_id"] else None
    return JudgingRun.model_validate(data)


def claimed_run(row: asyncpg.Record) -> ActiveRun:
    """A run as a claim returns it: with its snapshot and the claimer's lease."""
    return ActiveRun(
        run=judging_run(row),
        seq=row["seq"],
        config=JudgeConfig.model_validate(row["judge_config"]),
        lease=Lease(owner=row["lease_owner"], epoch=row["lease_epoch"]),
        request_id=row["request_id"],
    )


async def get_judging_run(db: Db, judging_run_id: str) -> JudgingRun:
    """The judging run ``judging_run_id``; NotFound when there is none."""
    return judging_run(await fetch_one(db, Q["get_judging_run"], "AI judging run", judging_run_id))


async def notify_work(db: Db) -> None:
    """Wake every replica's claim loop (at the commit of ``db``'s transaction, if any)."""
    await db.execute(Q["notify_work"])


class JudgingRuns(PoolUser):
    """The judging runs' part of :class:`~releval_judge.store.store.Store` (their leases
    are :class:`~releval_judge.store.leases.Leases`')."""

    async def create_judging_run(
        self,
        evaluation_run_id: str,
        judge_id: str,
        *,
        max_active: int,
        created_by: str,
        scope: JudgingRunScope = "all",
        max_cost: float | None = None,
        request_id: str | None = None,
        reuse: ReuseMode = "fingerprint",
    ) -> ActiveRun:
        """Check every prerequisite and queue the run, all in one transaction.

        ``total`` is the number of candidates in ``scope`` at this moment; ``created_by``
        is the name of the token that started it (kept when another replica resumes it).
        """
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        judge_uuid = parse_uuid(judge_id, "AI judge")
        async with self.pool.acquire() as conn, conn.transaction():
            # First, before any row lock, so that no two transactions wait on each other.
            await conn.execute(Q["lock_starts_on_evaluation"], eval_uuid)
            evaluation = await hold_evaluation_run(conn, evaluation_run_id)
            config = await hold_judge(conn, judge_id)
            if evaluation.status != "completed":
                raise EvaluationRunNotCompleted(evaluation_run_id, evaluation.status)
            if evaluation.locked:
                raise EvaluationRunLocked(evaluation_run_id)
            active = await conn.fetchval(Q["count_active_runs_of_evaluation"], eval_uuid)
            if active >= max_active:
                raise TooManyActiveRuns(evaluation_run_id, max_active)
            total = evaluation.candidate_count
            if scope != "all":
                total = await conn.fetchval(Q["count_in_scope"], eval_uuid, scope, None)
            if max_cost is not None and config.prices is None:
                raise ValidationFailed(
                    "max_cost needs the judge's input_price_per_mtok and output_price_per_mtok "
                    "(the cost is counted in their currency); set them on the judge",
                    details=[{"loc": ["body", "max_cost"], "input": max_cost}],
                )
            row = await conn.fetchrow(
                Q["insert_judging_run"],
                eval_uuid,
                judge_uuid,
                config.name,
                config.model_dump(mode="json"),
                total,
                scope,
                config.delivery,
                max_cost,
                request_id,
                created_by,
                reuse,
            )
            assert row is not None
            await notify_work(conn)  # delivered to every replica at commit
            return ActiveRun(run=judging_run(row), seq=row["seq"], config=config)

    async def get_judging_run(self, judging_run_id: str) -> JudgingRun:
        return await get_judging_run(self.pool, judging_run_id)

    async def list_judging_runs(
        self, evaluation_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[JudgingRun]:
        """A page of the evaluation run's judging runs; NotFound for an unknown one."""
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        after_seq = seq_cursor(cursor)
        rows = await self.pool.fetch(Q["list_judging_runs"], eval_uuid, after_seq, limit + 1)
        if not rows:
            # Only an empty page can be that of an unknown evaluation run: a poller of a
            # run's list makes one query, not two.
            await get_evaluation_run(self.pool, evaluation_run_id)
        return page(Page[JudgingRun], rows, limit, judging_run, seq_key)

    async def cancel_judging_run(self, judging_run_id: str, *, by: str | None) -> JudgingRun:
        """Mark an active run cancelled by ``by`` (a token's name; None: the service
        itself); raises JudgingRunEnded once it ended."""
        uuid = parse_uuid(judging_run_id, "AI judging run")
        row = await self.pool.fetchrow(Q["cancel_judging_run"], uuid, by)
        if row is not None:
            return judging_run(row)
        existing = await self.get_judging_run(judging_run_id)
        raise JudgingRunEnded(judging_run_id, existing.status)

    async def mark_running(self, judging_run_id: str, lease: Lease) -> JudgingRun | None:
        """queued → running; None when the run ended meanwhile (e.g. cancelled) or the
        lease is no longer held."""
        row = await self.pool.fetchrow(
            Q["mark_judging_run_running"], UUID(judging_run_id), lease.owner, lease.epoch
        )
        return judging_run(row) if row is not None else None

    async def finish_judging_run(
        self, judging_run_id: str, status: str, error: str | None, lease: Lease
    ) -> JudgingRun:
        """End an active run held by ``lease``; a run that was cancelled meanwhile stays
        cancelled, and one whose lease was lost is left to its new holder (both: the run
        as it is)."""
        uuid = UUID(judging_run_id)
        row = await self.pool.fetchrow(
            Q["finish_judging_run"], uuid, status, error, lease.owner, lease.epoch
        )
        if row is None:
            row = await self.pool.fetchrow(Q["get_judging_run"], uuid)
            assert row is not None
        return judging_run(row)

    async def count_unreached_judged_elsewhere(self, run: JudgingRun) -> int:
        """Candidates of ``run``'s evaluation run that ``run`` neither judged nor failed
        and that hold another run's current AI judgment."""
        count: int = await self.pool.fetchval(
            Q["count_unreached_judged_elsewhere"], UUID(run.evaluation_run_id), UUID(run.id)
        )
        return count

    async def judging_runs_by_status(self) -> dict[str, int]:
        rows = await self.pool.fetch(Q["count_judging_runs_by_status"])
        return {r["status"]: r["runs"] for r in rows}
