"""The Store: every read and write of the service, returning models (never records)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.cursor import decode_cursor, encode_cursor
from releval_judge.errors import (
    EvaluationRunLocked,
    EvaluationRunNotCompleted,
    JudgeInUse,
    JudgingRunEnded,
    LeaseLost,
    NotFound,
    TooManyActiveRuns,
    ValidationFailed,
)
from releval_judge.models import (
    AiJudge,
    CandidateFailure,
    CandidateLine,
    Cost,
    EvaluationRun,
    EvaluationRunCreate,
    EvaluationRunPatch,
    ImportResult,
    JudgeConfig,
    JudgingRun,
    JudgingRunScope,
    Page,
    Prices,
)
from releval_judge.scale import Scale
from releval_judge.store.database import fetch_planned
from releval_judge.store.key_slots import KeySlotStore
from releval_judge.store.provider_batches import ProviderBatchStore
from releval_judge.store.rate_budgets import RateBudgetStore
from releval_judge.store.secrets import SecretStore
from releval_judge.store.sql import queries
from releval_judge.store.tokens import TokenStore

Q = queries()
# Imports at least this large refresh the planner's statistics; autovacuum would, but only
# after the judging run that follows the import has been planned on stale ones.
ANALYZE_AFTER = 1_000


def parse_uuid(value: str, resource: str) -> UUID:
    """Ids are opaque strings; one that is not a UUID cannot exist, so it is a 404."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise NotFound(resource, value) from exc


def _evaluation_run(row: asyncpg.Record) -> EvaluationRun:
    return EvaluationRun(
        id=str(row["id"]),
        name=row["name"],
        status=row["status"],
        locked=row["locked"],
        scale=Scale(min=row["scale_min"], max=row["scale_max"], labels=row["scale_labels"]),
        query_count=row["query_count"],
        candidate_count=row["candidate_count"],
        created_at=row["created_at"],
    )


def _judge(row: asyncpg.Record) -> AiJudge:
    data = dict(row)
    data["id"] = str(data["id"])
    data["api_key_set"] = data.pop("api_key_encrypted") is not None
    return AiJudge.model_validate(data)


def _judge_config(row: asyncpg.Record) -> JudgeConfig:
    return JudgeConfig.model_validate(
        {k: row[k] for k in JudgeConfig.model_fields if k in row.keys()}  # noqa: SIM118
    )


def _judging_run(row: asyncpg.Record) -> JudgingRun:
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


def run_cost(
    config: dict[str, Any],
    *,
    delivery: str,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
) -> Cost | None:
    """A run's cost at the prices of its judge snapshot (the raw JSON: this runs for every
    run of every status poll), batch discount and cached input included."""
    input_price = config.get("input_price_per_mtok")
    output_price = config.get("output_price_per_mtok")
    if input_price is None or output_price is None:
        return None
    prices = Prices(
        input_per_mtok=input_price,
        output_per_mtok=output_price,
        cached_input_per_mtok=config.get("cached_input_price_per_mtok"),
    )
    factor = config.get("batch_price_factor", 0.5) if delivery == "batch" else 1.0
    return prices.cost(
        input_tokens, output_tokens, cached_input_tokens=cached_input_tokens, factor=factor
    )


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


def _claimed_run(row: asyncpg.Record) -> ActiveRun:
    return ActiveRun(
        run=_judging_run(row),
        seq=row["seq"],
        config=JudgeConfig.model_validate(row["judge_config"]),
        lease=Lease(owner=row["lease_owner"], epoch=row["lease_epoch"]),
        request_id=row["request_id"],
    )


@dataclass(frozen=True)
class PendingCandidate:
    id: UUID
    query_id: str
    query: str
    doc_id: str
    rank: int
    title: str | None
    text: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class JudgmentWrite:
    candidate_id: UUID
    grade: int
    reasoning: str


@dataclass(frozen=True)
class FailureWrite:
    candidate_id: UUID
    reason: str
    raw_excerpt: str


@dataclass(frozen=True)
class BatchOutcome:
    """What one provider call produced, written in one transaction.

    ``input_tokens`` counts every input token, ``cached_input_tokens`` those of them the
    provider served from its prompt cache. ``request`` is the custom_id of a provider
    batch's request (batch delivery): writing marks it done, and its tokens are counted
    only by the first write.
    """

    judgments: Sequence[JudgmentWrite]
    failures: Sequence[FailureWrite]
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    request: str | None = None


class Store:
    """All SQL of the service goes through here (queries in ``queries.sql``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.batches = ProviderBatchStore(pool)
        self.rate_budgets = RateBudgetStore(pool)
        self.key_slots = KeySlotStore(pool)
        self.tokens = TokenStore(pool)
        self.secret_rows = SecretStore(pool)

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    # --- evaluation runs ---------------------------------------------------------------

    async def create_evaluation_run(self, body: EvaluationRunCreate) -> EvaluationRun:
        seen: set[tuple[str, str]] = set()
        query_ids: list[str] = []
        query_texts: list[str] = []
        records: list[tuple[Any, ...]] = []
        for index, query in enumerate(body.queries):
            query_id = query.query_id or f"q{index + 1}"
            if query_id in query_ids:
                raise ValidationFailed(
                    f"query_id {query_id!r} appears twice",
                    details=[{"loc": ["body", "queries", index, "query_id"]}],
                )
            query_ids.append(query_id)
            query_texts.append(query.text)
            for c_index, cand in enumerate(query.candidates):
                if (query_id, cand.doc_id) in seen:
                    raise ValidationFailed(
                        f"doc_id {cand.doc_id!r} appears twice in query {query_id!r}",
                        details=[{"loc": ["body", "queries", index, "candidates", c_index]}],
                    )
                seen.add((query_id, cand.doc_id))
                records.append(
                    (
                        query_id,
                        cand.doc_id,
                        cand.rank,
                        cand.title,
                        cand.text,
                        cand.fields,
                    )
                )
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                Q["insert_evaluation_run"],
                body.name,
                body.status,
                body.scale.min,
                body.scale.max,
                {str(k): v for k, v in body.scale.labels.items()},
            )
            assert row is not None
            run_id: UUID = row["id"]
            await conn.execute(Q["insert_queries"], run_id, query_ids, query_texts)
            if records:
                await conn.copy_records_to_table(
                    "candidates",
                    records=[(run_id, *r) for r in records],
                    columns=[
                        "evaluation_run_id",
                        "query_id",
                        "doc_id",
                        "rank",
                        "title",
                        "text",
                        "fields",
                    ],
                )
            row = await conn.fetchrow(Q["refresh_evaluation_run_counts"], run_id)
            assert row is not None
            created = _evaluation_run(row)
        if len(records) >= ANALYZE_AFTER:
            await self.pool.execute(Q["analyze_candidates"])
        return created

    async def get_evaluation_run(self, run_id: str) -> EvaluationRun:
        row = await self.pool.fetchrow(
            Q["get_evaluation_run"], parse_uuid(run_id, "evaluation run")
        )
        if row is None:
            raise NotFound("evaluation run", run_id)
        return _evaluation_run(row)

    async def list_evaluation_runs(self, *, limit: int, cursor: str | None) -> Page[EvaluationRun]:
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(Q["list_evaluation_runs"], after_at, after_id, limit + 1)
        items = [_evaluation_run(r) for r in rows[:limit]]
        next_cursor = (
            encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
            if len(rows) > limit
            else None
        )
        return Page[EvaluationRun](items=items, next_cursor=next_cursor)

    async def patch_evaluation_run(self, run_id: str, patch: EvaluationRunPatch) -> EvaluationRun:
        row = await self.pool.fetchrow(
            Q["patch_evaluation_run"],
            parse_uuid(run_id, "evaluation run"),
            patch.status,
            patch.locked,
        )
        if row is None:
            raise NotFound("evaluation run", run_id)
        return _evaluation_run(row)

    async def import_candidates(
        self, run_id: str, lines: AsyncIterable[CandidateLine], *, chunk_size: int = 5000
    ) -> ImportResult:
        """Append candidates streamed from ``lines`` through COPY, in one transaction.

        Memory stays bounded by ``chunk_size`` and the number of distinct queries: the
        lines are never all held at once. Any bad line or duplicate rolls everything back.
        """
        uuid = parse_uuid(run_id, "evaluation run")
        queries_seen: dict[str, str] = {}
        imported = 0
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["lock_evaluation_run_for_update"], uuid)
            if row is None:
                raise NotFound("evaluation run", run_id)
            if row["locked"]:
                raise EvaluationRunLocked(run_id)
            queries_before = row["query_count"]

            async def records() -> AsyncIterator[tuple[Any, ...]]:
                nonlocal imported
                async for line in lines:
                    if line.query_id not in queries_seen:
                        queries_seen[line.query_id] = line.query
                    imported += 1
                    yield (
                        uuid,
                        line.query_id,
                        line.doc_id,
                        line.rank,
                        line.title,
                        line.text,
                        line.fields,
                    )

            try:
                await conn.copy_records_to_table(
                    "candidates",
                    records=records(),
                    columns=[
                        "evaluation_run_id",
                        "query_id",
                        "doc_id",
                        "rank",
                        "title",
                        "text",
                        "fields",
                    ],
                )
            except asyncpg.UniqueViolationError as exc:
                raise ValidationFailed(
                    "a (query_id, doc_id) pair appears twice, or is already in the run: "
                    f"{exc.detail or exc}"
                ) from exc
            await conn.execute(
                Q["insert_queries"], uuid, list(queries_seen), list(queries_seen.values())
            )
            row = await conn.fetchrow(Q["refresh_evaluation_run_counts"], uuid)
            assert row is not None
            run = _evaluation_run(row)
        if imported >= ANALYZE_AFTER:
            await self.pool.execute(Q["analyze_candidates"])
        return ImportResult(
            evaluation_run_id=run.id,
            imported=imported,
            queries_added=run.query_count - queries_before,
            evaluation_run=run,
        )

    # --- AI judges ---------------------------------------------------------------------

    async def create_judge(self, config: JudgeConfig, *, by: str) -> AiJudge:
        """Store a new judge; ``by`` (a token's name) is its creator and last changer."""
        row = await self.pool.fetchrow(Q["insert_judge"], *_judge_args(config), by)
        assert row is not None
        return _judge(row)

    async def get_judge(self, judge_id: str) -> AiJudge:
        row = await self.pool.fetchrow(Q["get_judge"], parse_uuid(judge_id, "AI judge"))
        if row is None:
            raise NotFound("AI judge", judge_id)
        return _judge(row)

    async def get_judge_config(self, judge_id: str) -> JudgeConfig:
        row = await self.pool.fetchrow(Q["get_judge"], parse_uuid(judge_id, "AI judge"))
        if row is None:
            raise NotFound("AI judge", judge_id)
        return _judge_config(row)

    async def list_judges(self, *, limit: int, cursor: str | None) -> Page[AiJudge]:
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(Q["list_judges"], after_at, after_id, limit + 1)
        items = [_judge(r) for r in rows[:limit]]
        next_cursor = (
            encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
            if len(rows) > limit
            else None
        )
        return Page[AiJudge](items=items, next_cursor=next_cursor)

    async def update_judge(self, judge_id: str, config: JudgeConfig, *, by: str) -> AiJudge:
        """Replace the judge's settings; ``by`` (a token's name) becomes its last changer."""
        uuid = parse_uuid(judge_id, "AI judge")
        row = await self.pool.fetchrow(Q["update_judge"], uuid, *_judge_args(config), by)
        if row is None:
            raise NotFound("AI judge", judge_id)
        return _judge(row)

    async def delete_judge(self, judge_id: str) -> None:
        uuid = parse_uuid(judge_id, "AI judge")
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchrow(Q["get_judge_for_update"], uuid) is None:
                raise NotFound("AI judge", judge_id)
            active = await conn.fetchval(Q["count_active_runs_of_judge"], uuid)
            if active:
                raise JudgeInUse(judge_id, active)
            await conn.execute(Q["delete_judge"], uuid)

    # --- AI judging runs ---------------------------------------------------------------

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
            run_row = await conn.fetchrow(Q["lock_evaluation_run_for_share"], eval_uuid)
            if run_row is None:
                raise NotFound("evaluation run", evaluation_run_id)
            judge_row = await conn.fetchrow(Q["get_judge_for_update"], judge_uuid)
            if judge_row is None:
                raise NotFound("AI judge", judge_id)
            if run_row["status"] != "completed":
                raise EvaluationRunNotCompleted(evaluation_run_id, run_row["status"])
            if run_row["locked"]:
                raise EvaluationRunLocked(evaluation_run_id)
            active = await conn.fetchval(Q["count_active_runs_of_evaluation"], eval_uuid)
            if active >= max_active:
                raise TooManyActiveRuns(evaluation_run_id, max_active)
            total = run_row["candidate_count"]
            if scope != "all":
                total = await conn.fetchval(Q["count_in_scope"], eval_uuid, scope, None)
            config = _judge_config(judge_row)
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
            )
            assert row is not None
            await conn.execute(Q["notify_work"])  # delivered to every replica at commit
            return ActiveRun(run=_judging_run(row), seq=row["seq"], config=config)

    async def get_judging_run(self, judging_run_id: str) -> JudgingRun:
        row = await self.pool.fetchrow(
            Q["get_judging_run"], parse_uuid(judging_run_id, "AI judging run")
        )
        if row is None:
            raise NotFound("AI judging run", judging_run_id)
        return _judging_run(row)

    async def list_judging_runs(
        self, evaluation_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[JudgingRun]:
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        if await self.pool.fetchval(Q["get_evaluation_run"], eval_uuid) is None:
            raise NotFound("evaluation run", evaluation_run_id)
        after_seq: int | None = None
        if cursor is not None:
            (value,) = decode_cursor(cursor, length=1)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
                raise ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}])
            after_seq = value
        rows = await self.pool.fetch(Q["list_judging_runs"], eval_uuid, after_seq, limit + 1)
        items = [_judging_run(r) for r in rows[:limit]]
        next_cursor = encode_cursor([rows[limit - 1]["seq"]]) if len(rows) > limit else None
        return Page[JudgingRun](items=items, next_cursor=next_cursor)

    # --- leases (engine.leases) -----------------------------------------------------

    async def claim_judging_runs(
        self,
        owner: str,
        *,
        ttl_s: float,
        limit: int,
        include_own: bool = False,
        exclude: Sequence[str] = (),
    ) -> list[ActiveRun]:
        """Claim up to ``limit`` free runs (queued, or running with an expired lease), oldest
        first, for ``ttl_s`` seconds; with ``include_own`` also runs ``owner`` held before a
        restart. Runs locked by another claim are skipped, never waited for."""
        rows = await self.pool.fetch(
            Q["claim_judging_runs"],
            owner,
            ttl_s,
            limit,
            include_own,
            [UUID(r) for r in exclude],
        )
        return [_claimed_run(r) for r in rows]

    async def renew_leases(
        self, owner: str, leases: dict[str, Lease], *, ttl_s: float
    ) -> dict[str, str]:
        """Extend ``leases`` by ``ttl_s``; the runs still held, with their status."""
        ids = list(leases)
        rows = await self.pool.fetch(
            Q["renew_leases"],
            owner,
            ttl_s,
            [UUID(i) for i in ids],
            [leases[i].epoch for i in ids],
        )
        return {str(r["id"]): r["status"] for r in rows}

    async def lease_owner(self, judging_run_id: str) -> str | None:
        """The replica that holds the run's lease now, or None."""
        owner: str | None = await self.pool.fetchval(
            Q["judging_run_lease_owner"], parse_uuid(judging_run_id, "AI judging run")
        )
        return owner

    async def release_leases(self, owner: str, leases: dict[str, Lease]) -> int:
        """Give ``leases`` back now (another replica may claim them at once); how many."""
        ids = list(leases)
        released: int = await self.pool.fetchval(
            Q["release_leases"], owner, [UUID(i) for i in ids], [leases[i].epoch for i in ids]
        )
        return released

    async def notify_work(self) -> None:
        await self.pool.execute(Q["notify_work"])

    async def cancel_judging_run(self, judging_run_id: str, *, by: str | None) -> JudgingRun:
        """Mark an active run cancelled by ``by`` (a token's name; None: the service
        itself); raises JudgingRunEnded once it ended."""
        uuid = parse_uuid(judging_run_id, "AI judging run")
        row = await self.pool.fetchrow(Q["cancel_judging_run"], uuid, by)
        if row is not None:
            return _judging_run(row)
        existing = await self.get_judging_run(judging_run_id)
        raise JudgingRunEnded(judging_run_id, existing.status)

    async def mark_running(self, judging_run_id: str, lease: Lease) -> JudgingRun | None:
        """queued → running; None when the run ended meanwhile (e.g. cancelled) or the
        lease is no longer held."""
        row = await self.pool.fetchrow(
            Q["mark_judging_run_running"], UUID(judging_run_id), lease.owner, lease.epoch
        )
        return _judging_run(row) if row is not None else None

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
        return _judging_run(row)

    async def pending_candidates(
        self,
        evaluation_run_id: str,
        judging_run_id: str,
        *,
        after: tuple[str, int, UUID] | None,
        limit: int,
    ) -> list[PendingCandidate]:
        """The next page of candidates this run still has to judge, within its scope.

        The scope is read from the run's row, so a run resumed after a restart keeps it.
        """
        query_id, rank, cand_id = after if after is not None else ("", -1, UUID(int=0))
        # Planned for this cursor each time, read in index order from it (see fetch_planned:
        # a generic plan, then statistics older than the evaluation, starved runs).
        rows = await fetch_planned(
            self.pool,
            Q["pending_candidates"],
            UUID(evaluation_run_id),
            UUID(judging_run_id),
            query_id,
            rank,
            cand_id,
            limit,
            in_index_order=True,
        )
        return [
            PendingCandidate(
                id=r["id"],
                query_id=r["query_id"],
                query=r["query"],
                doc_id=r["doc_id"],
                rank=r["rank"],
                title=r["title"],
                text=r["text"],
                fields=r["fields"],
            )
            for r in rows
        ]

    async def record_batch(
        self,
        *,
        evaluation_run_id: str,
        judging_run_id: str,
        run_seq: int,
        judge_name: str,
        outcome: BatchOutcome,
        lease: Lease,
    ) -> None:
        """Write one batch's judgments, failures and counter increments atomically.

        The evaluation run's row is held FOR SHARE so that a lock (an UPDATE) either waits
        for this write or is seen by it: a locked run never gains a judgment. Rows this run
        already wrote (a batch repeated after a crash) are not counted twice. Nothing is
        written unless ``lease`` still holds the run (raises LeaseLost).
        """
        judgments, failures = outcome.judgments, outcome.failures
        result = await self.pool.fetchval(
            Q["record_batch"],
            UUID(evaluation_run_id),
            UUID(judging_run_id),
            run_seq,
            judge_name,
            [j.candidate_id for j in judgments],
            [j.grade for j in judgments],
            [j.reasoning for j in judgments],
            [f.candidate_id for f in failures],
            [f.reason for f in failures],
            [f.raw_excerpt for f in failures],
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cached_input_tokens,
            outcome.request,
            lease.owner,
            lease.epoch,
        )
        if result == "lease_lost":
            raise LeaseLost(judging_run_id)
        if result == "locked":
            raise EvaluationRunLocked(evaluation_run_id)

    async def list_failures(
        self, judging_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[CandidateFailure]:
        await self.get_judging_run(judging_run_id)
        after_at, after_id = time_cursor(cursor)
        rows = await fetch_planned(
            self.pool,
            Q["list_candidate_failures"],
            UUID(judging_run_id),
            after_at,
            after_id,
            limit + 1,
        )
        items = [
            CandidateFailure.model_validate({**dict(r), "candidate_id": str(r["candidate_id"])})
            for r in rows[:limit]
        ]
        next_cursor = (
            encode_cursor([items[-1].created_at.isoformat(), items[-1].candidate_id])
            if len(rows) > limit
            else None
        )
        return Page[CandidateFailure](items=items, next_cursor=next_cursor)

    async def judging_runs_by_status(self) -> dict[str, int]:
        rows = await self.pool.fetch(Q["count_judging_runs_by_status"])
        return {r["status"]: r["runs"] for r in rows}


def _judge_args(config: JudgeConfig) -> tuple[Any, ...]:
    return (
        config.name,
        config.provider,
        config.model,
        config.base_url,
        config.api_key_encrypted,
        config.api_key_env,
        config.prompt_template,
        config.batch_size,
        config.concurrency,
        config.temperature,
        config.max_output_tokens,
        config.request_timeout_s,
        config.max_retries,
        config.requests_per_minute,
        config.tokens_per_minute,
        config.input_price_per_mtok,
        config.output_price_per_mtok,
        config.max_document_chars,
        config.fields,
        config.delivery,
        config.reasoning_effort,
        config.cached_input_price_per_mtok,
        config.batch_price_factor,
        config.key_concurrency,
    )


def time_cursor(cursor: str | None) -> tuple[datetime | None, UUID | None]:
    """The (created_at, id) key of a newest-first list's cursor; 422 when it is forged."""
    if cursor is None:
        return None, None
    at, ident = decode_cursor(cursor, length=2)
    try:
        after_at = datetime.fromisoformat(at)
        if after_at.tzinfo is None:
            raise ValueError("cursor time without a time zone")
        # Out of range once in UTC (year 1 or 9999 with an offset) fails here, not in asyncpg.
        after_at.astimezone(UTC)
        return after_at, UUID(ident)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}]) from exc
