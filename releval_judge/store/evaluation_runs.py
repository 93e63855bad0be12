"""Evaluation runs: created whole or imported line by line (COPY), read, listed, patched,
and held while judgments are written into them. Queries: ``evaluation_runs.sql``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from releval_judge.errors import (
    DuplicateCandidate,
    EvaluationRunLocked,
    NotFound,
    ValidationFailed,
)
from releval_judge.models import (
    CandidateIn,
    CandidateLine,
    EvaluationRun,
    EvaluationRunCreate,
    EvaluationRunPatch,
    EvaluationRunStatus,
    ImportResult,
    Page,
)
from releval_judge.scale import Scale
from releval_judge.store.database import Db, PoolUser
from releval_judge.store.pages import fetch_one, page, parse_uuid, time_cursor, time_key
from releval_judge.store.sql import queries

Q = queries()
# Imports at least this large refresh the planner's statistics; autovacuum would, but only
# after the judging run that follows the import has been planned on stale ones.
ANALYZE_AFTER = 1_000
CANDIDATE_COLUMNS = ("evaluation_run_id", "query_id", "doc_id", "rank", "title", "text", "fields")


def evaluation_run(row: asyncpg.Record) -> EvaluationRun:
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


async def get_evaluation_run(db: Db, run_id: str) -> EvaluationRun:
    """The evaluation run ``run_id``; NotFound when there is none."""
    return evaluation_run(await fetch_one(db, Q["get_evaluation_run"], "evaluation run", run_id))


SCALES_KEPT: Final = 10_000
"""Evaluation runs whose scale a process keeps in memory (:func:`scale_of`); then it starts
over. 10,000 scales are a few megabytes."""

_scales: dict[str, Scale] = {}


async def scale_of(db: Db, run_id: str) -> Scale:
    """The evaluation run's scale; NotFound when there is no such run.

    A run's scale is set when it is created and never changes, and evaluation runs are
    never deleted: each process reads a scale once. A page of judgments is then one
    statement, not two (one round trip less for a dashboard's most frequent page)."""
    scale = _scales.get(run_id)
    if scale is None:
        scale = (await get_evaluation_run(db, run_id)).scale
        if len(_scales) >= SCALES_KEPT:
            _scales.clear()
        _scales[run_id] = scale
    return scale


@dataclass(frozen=True)
class HeldRun:
    """What a write into an evaluation run checks, read as the run's row is held."""

    status: EvaluationRunStatus
    locked: bool
    candidate_count: int
    scale_min: int
    scale_max: int

    def grade_problem(self, grade: int) -> str | None:
        """Why ``grade`` cannot be written into the run (None: it can)."""
        if self.scale_min <= grade <= self.scale_max:
            return None
        return f"grade {grade} outside scale {self.scale_min}–{self.scale_max}"


async def hold_evaluation_run(conn: PoolConnectionProxy[asyncpg.Record], run_id: str) -> HeldRun:
    """The run's state, its row held FOR SHARE until the transaction ends: a concurrent
    lock (an UPDATE) either waits for what the transaction writes or is seen by it.
    NotFound when there is no such run."""
    row = await fetch_one(conn, Q["lock_evaluation_run_for_share"], "evaluation run", run_id)
    return HeldRun(**dict(row))


async def hold_for_judgments(conn: PoolConnectionProxy[asyncpg.Record], run_id: str) -> HeldRun:
    """:func:`hold_evaluation_run` for a write of judgments: EvaluationRunLocked when the
    run is locked (a locked run never gains or loses a judgment)."""
    held = await hold_evaluation_run(conn, run_id)
    if held.locked:
        raise EvaluationRunLocked(run_id)
    return held


def _record(run_id: UUID, query_id: str, candidate: CandidateIn | CandidateLine) -> tuple[Any, ...]:
    """A candidate as a row of COPY's :data:`CANDIDATE_COLUMNS`."""
    c = candidate
    return (run_id, query_id, c.doc_id, c.rank, c.title, c.text, c.fields)


# PostgreSQL's detail of the unique violation: "Key (evaluation_run_id, query_id,
# doc_id)=(<uuid>, q1, d1) already exists."; the ids are not quoted.
_DUPLICATE_KEY = re.compile(r"=\([0-9a-fA-F-]{36}, (.*)\) already exists", re.DOTALL)


def _duplicate_key(detail: str) -> str:
    """The (query_id, doc_id) part of a unique violation's detail: `q1, d1`."""
    match = _DUPLICATE_KEY.search(detail)
    return match.group(1) if match else detail


async def _copy_candidates(
    conn: PoolConnectionProxy[asyncpg.Record],
    records: Iterable[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]],
) -> None:
    await conn.copy_records_to_table("candidates", records=records, columns=CANDIDATE_COLUMNS)


class EvaluationRuns(PoolUser):
    """The evaluation runs' part of :class:`~releval_judge.store.store.Store`."""

    async def create_evaluation_run(self, body: EvaluationRunCreate) -> EvaluationRun:
        seen: set[tuple[str, str]] = set()
        query_ids: list[str] = []
        query_texts: list[str] = []
        candidates: list[tuple[str, CandidateIn]] = []
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
                candidates.append((query_id, cand))
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
            if candidates:
                await _copy_candidates(conn, [_record(run_id, q, c) for q, c in candidates])
            row = await conn.fetchrow(Q["refresh_evaluation_run_counts"], run_id)
            assert row is not None
            created = evaluation_run(row)
        if len(candidates) >= ANALYZE_AFTER:
            await self.pool.execute(Q["analyze_candidates"])
        return created

    async def get_evaluation_run(self, run_id: str) -> EvaluationRun:
        return await get_evaluation_run(self.pool, run_id)

    async def list_evaluation_runs(self, *, limit: int, cursor: str | None) -> Page[EvaluationRun]:
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(Q["list_evaluation_runs"], after_at, after_id, limit + 1)
        return page(Page[EvaluationRun], rows, limit, evaluation_run, time_key())

    async def patch_evaluation_run(self, run_id: str, patch: EvaluationRunPatch) -> EvaluationRun:
        row = await fetch_one(
            self.pool,
            Q["patch_evaluation_run"],
            "evaluation run",
            run_id,
            patch.status,
            patch.locked,
        )
        return evaluation_run(row)

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
                    yield _record(uuid, line.query_id, line)

            try:
                await _copy_candidates(conn, records())
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateCandidate(_duplicate_key(exc.detail or str(exc))) from exc
            await conn.execute(
                Q["insert_queries"], uuid, list(queries_seen), list(queries_seen.values())
            )
            row = await conn.fetchrow(Q["refresh_evaluation_run_counts"], uuid)
            assert row is not None
            run = evaluation_run(row)
        if imported >= ANALYZE_AFTER:
            await self.pool.execute(Q["analyze_candidates"])
        return ImportResult(
            evaluation_run_id=run.id,
            imported=imported,
            queries_added=run.query_count - queries_before,
            evaluation_run=run,
        )
