"""Reads and writes for reviewing runs: human judgments, a run's full set of judgments,
streamed exports, random samples, agreement counts and the candidates of a scope.

Queries are the named blocks of ``review.sql``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.errors import NotFound, ValidationFailed
from releval_judge.models import (
    EvaluationRun,
    HumanGradeChange,
    JudgingRun,
    JudgingRunScope,
    Judgment,
    JudgmentSource,
    Page,
    RunJudgment,
)
from releval_judge.review.exports import ExportRow
from releval_judge.scale import Scale
from releval_judge.store import pages
from releval_judge.store.batches import PendingCandidate, candidate_fields
from releval_judge.store.database import fetch_planned
from releval_judge.store.evaluation_runs import get_evaluation_run, hold_for_judgments
from releval_judge.store.judgments import judgment_fields
from releval_judge.store.pages import page, parse_uuid
from releval_judge.store.sql import fill, queries
from releval_judge.store.store import Store

Q = queries()
SAMPLE_CURRENT_JUDGMENTS = fill(
    Q["sample_current_judgments"], current_judgments=Q["current_judgments"]
)

#: Rows an export reads at a time, each page in a read of its own (keyset on the export's
#: order). A judgment written, changed or deleted while a long export runs shows as it is
#: when its page is read (before the write: absent or old; after: present or new); a row
#: that exists throughout appears exactly once, since a row's key never changes.
EXPORT_PAGE = 1000


@dataclass(frozen=True)
class ScopeTotals:
    queries: int
    candidates: int
    batches: int


@dataclass(frozen=True)
class QueryCount:
    query_id: str
    candidates: int


@dataclass(frozen=True)
class SampledCandidate(PendingCandidate):
    """A candidate drawn for a judge test, with the human judge's grade when there is one."""

    human_grade: int | None = None


@dataclass(frozen=True)
class HumanJudge:
    judge: str
    judgments: int


@dataclass(frozen=True)
class ExportFilter:
    source: JudgmentSource | None = None
    min_grade: int | None = None
    max_grade: int | None = None
    judge: str | None = None


class ReviewStore:
    """The review side of the service; evaluation runs and judges are read through ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pool: asyncpg.Pool = store.pool

    # --- human judgments ---------------------------------------------------------------

    async def put_human_judgment(
        self,
        evaluation_run_id: str,
        candidate_id: str,
        judge: str,
        grade: int,
        reasoning: str,
        *,
        by: str,
    ) -> Judgment:
        """Record (or replace) one human judge's grade of one candidate, and append the
        write, made by ``by`` (a token's name), to the grade's history in the same statement.

        NotFound for an unknown run or a candidate not in it; ValidationFailed for a grade
        off the run's scale; EvaluationRunLocked when the run is locked (its row is held
        FOR SHARE, so a concurrent lock either waits for this write or is seen by it).
        """
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        cand_uuid = parse_uuid(candidate_id, "candidate")
        async with self.pool.acquire() as conn, conn.transaction():
            run = await hold_for_judgments(conn, evaluation_run_id)
            scale = (await get_evaluation_run(conn, evaluation_run_id)).scale
            candidate = await conn.fetchrow(Q["get_candidate_of_run"], eval_uuid, cand_uuid)
            if candidate is None:
                raise NotFound("candidate", candidate_id)
            problem = run.grade_problem(grade)
            if problem is not None:
                raise ValidationFailed(
                    problem, details=[{"loc": ["body", "grade"], "input": grade}]
                )
            created_at = await conn.fetchval(
                Q["upsert_human_judgment"], cand_uuid, eval_uuid, judge, grade, reasoning, by
            )
        return Judgment(
            candidate_id=str(cand_uuid),
            query_id=candidate["query_id"],
            query=candidate["query"],
            doc_id=candidate["doc_id"],
            rank=candidate["rank"],
            grade=grade,
            label=scale.label(grade),
            reasoning=reasoning,
            source="human",
            judge=judge,
            ai_judging_run_id=None,
            created_at=created_at,
        )

    async def delete_human_judgment(
        self, evaluation_run_id: str, candidate_id: str, judge: str, *, by: str
    ) -> None:
        """Remove one human judge's grade and append the delete, made by ``by``, to its
        history; NotFound when there is none (nothing appended), 409 when locked."""
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        cand_uuid = parse_uuid(candidate_id, "candidate")
        async with self.pool.acquire() as conn, conn.transaction():
            await hold_for_judgments(conn, evaluation_run_id)
            if await conn.fetchrow(Q["get_candidate_of_run"], eval_uuid, cand_uuid) is None:
                raise NotFound("candidate", candidate_id)
            deleted = await conn.fetchval(
                Q["delete_human_judgment"], cand_uuid, eval_uuid, judge, by
            )
            if deleted is None:
                raise NotFound(f"human judgment of candidate {candidate_id} by judge", judge)

    async def human_grade_history(
        self,
        evaluation_run_id: str,
        candidate_id: str,
        *,
        judge: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[HumanGradeChange]:
        """Every write and delete of the candidate's human grades (``judge``'s only, when
        given), newest first. NotFound for an unknown run or a candidate not in it."""
        eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
        cand_uuid = parse_uuid(candidate_id, "candidate")
        before = pages.seq_cursor(cursor)
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await get_evaluation_run(conn, evaluation_run_id)
            if await conn.fetchrow(Q["get_candidate_of_run"], eval_uuid, cand_uuid) is None:
                raise NotFound("candidate", candidate_id)
            rows = await conn.fetch(
                Q["human_judgment_history"], cand_uuid, judge, before, limit + 1
            )
        return page(Page[HumanGradeChange], rows, limit, _grade_change, pages.seq_key)

    async def human_judges(self, evaluation_run_id: str) -> list[HumanJudge]:
        """The run's human judges, the one with the most judgments first."""
        rows = await self.pool.fetch(Q["human_judges_of_run"], UUID(evaluation_run_id))
        return [HumanJudge(judge=r["judge"], judgments=r["judgments"]) for r in rows]

    # --- a judging run's full set ------------------------------------------------------

    async def run_judgments(
        self, run: JudgingRun, scale: Scale, *, limit: int, cursor: str | None
    ) -> Page[RunJudgment]:
        """Every judgment ``run`` produced, current or not, in (query_id, rank) order."""
        rows = await fetch_planned(
            self.pool,
            Q["run_judgments_page"],
            UUID(run.evaluation_run_id),
            UUID(run.id),
            None,
            None,
            *pages.candidate_cursor(cursor),
            limit + 1,
        )

        def item(row: asyncpg.Record) -> RunJudgment:
            reused_from = row["reused_from"]
            return RunJudgment(
                **judgment_fields(row, scale, run=run),
                current=row["current"],
                reused_from=None if reused_from is None else str(reused_from),
            )

        return page(Page[RunJudgment], rows, limit, item, pages.candidate_key)

    # --- exports -----------------------------------------------------------------------

    async def qrels_unfit_id(self, evaluation_run_id: str) -> tuple[str, str] | None:
        """A (query_id, doc_id) of the run holding white space, which qrels cannot carry."""
        row = await self.pool.fetchrow(Q["ids_unfit_for_qrels"], UUID(evaluation_run_id))
        return None if row is None else (row["query_id"], row["doc_id"])

    async def export_current(
        self, evaluation: EvaluationRun, filters: ExportFilter
    ) -> AsyncIterator[ExportRow]:
        """Stream the run's current judgments, :data:`EXPORT_PAGE` rows at a time.

        Each page is one short read (keyset on the export's order) and no connection is held
        between pages, so a client that reads slowly or not at all holds no connection.
        Memory stays flat however many rows. See :data:`EXPORT_PAGE` for what the export
        sees of writes made while it runs.
        """
        scale = evaluation.scale
        after: tuple[Any, ...] = (None, None, None, None, None)
        while True:
            rows = await fetch_planned(
                self.pool,
                Q["export_current_judgments_page"],
                UUID(evaluation.id),
                filters.source,
                filters.min_grade,
                filters.max_grade,
                filters.judge,
                *after,
                EXPORT_PAGE,
            )
            for r in rows:
                yield ExportRow(**judgment_fields(r, scale))
            if len(rows) < EXPORT_PAGE:
                return
            last = rows[-1]
            after = (
                last["query_id"],
                last["rank"],
                last["candidate_id"],
                last["source"],
                last["judge"],
            )

    async def export_run(
        self, run: JudgingRun, scale: Scale, *, min_grade: int | None, max_grade: int | None
    ) -> AsyncIterator[ExportRow]:
        """Stream every judgment one judging run produced (pages as :meth:`export_current`)."""
        after: tuple[Any, ...] = (None, None, None)
        while True:
            rows = await fetch_planned(
                self.pool,
                Q["run_judgments_page"],
                UUID(run.evaluation_run_id),
                UUID(run.id),
                min_grade,
                max_grade,
                *after,
                EXPORT_PAGE,
                in_index_order=True,
            )
            for r in rows:
                yield ExportRow(**judgment_fields(r, scale, run=run), current=r["current"])
            if len(rows) < EXPORT_PAGE:
                return
            last = rows[-1]
            after = (last["query_id"], last["rank"], last["candidate_id"])

    # --- samples -----------------------------------------------------------------------

    async def sample_judgments(
        self, evaluation: EvaluationRun, *, n: int, seed: int, source: JudgmentSource | None
    ) -> list[Judgment]:
        rows = await self.pool.fetch(
            SAMPLE_CURRENT_JUDGMENTS, UUID(evaluation.id), source, str(seed), n
        )
        return [Judgment(**judgment_fields(r, evaluation.scale)) for r in rows]

    async def sample_candidates(
        self, evaluation_run_id: str, *, n: int, seed: int, human_judge: str | None
    ) -> list[SampledCandidate]:
        """``n`` random candidates (only those ``human_judge`` graded, when given)."""
        rows = await self.pool.fetch(
            Q["sample_candidates"], UUID(evaluation_run_id), human_judge, str(seed), n
        )
        return [SampledCandidate(**candidate_fields(r), human_grade=r["human_grade"]) for r in rows]

    # --- agreement ---------------------------------------------------------------------

    async def agreement_counts(
        self, judging_run_id: str, human_judge: str
    ) -> dict[tuple[int, int], int]:
        rows = await self.pool.fetch(Q["agreement_counts"], UUID(judging_run_id), human_judge)
        return {(r["human"], r["ai"]): r["pairs"] for r in rows}

    # --- scopes and estimates ----------------------------------------------------------

    async def scope_totals(
        self, evaluation_run_id: str, scope: JudgingRunScope, batch_size: int
    ) -> ScopeTotals:
        row = await self.pool.fetchrow(
            Q["scope_totals"], UUID(evaluation_run_id), scope, None, batch_size
        )
        assert row is not None
        return ScopeTotals(
            queries=row["queries"], candidates=row["candidates"], batches=row["batches"]
        )

    async def scope_query_sample(
        self, evaluation_run_id: str, scope: JudgingRunScope, *, seed: int, limit: int
    ) -> list[QueryCount]:
        rows = await self.pool.fetch(
            Q["scope_query_sample"], UUID(evaluation_run_id), scope, None, str(seed), limit
        )
        return [QueryCount(query_id=r["query_id"], candidates=r["candidates"]) for r in rows]

    async def scope_candidates(
        self, evaluation_run_id: str, scope: JudgingRunScope, query_ids: Sequence[str]
    ) -> list[PendingCandidate]:
        rows = await self.pool.fetch(
            Q["scope_candidates_of_queries"],
            UUID(evaluation_run_id),
            scope,
            None,
            list(query_ids),
        )
        return [PendingCandidate(**candidate_fields(r)) for r in rows]

    async def output_tokens_per_candidate(self, judge_id: str) -> tuple[float | None, int]:
        """Output tokens per candidate over the judge's earlier runs, and how many candidates."""
        row = await self.pool.fetchrow(Q["judge_output_tokens_per_candidate"], UUID(judge_id))
        assert row is not None
        return row["per_candidate"], row["candidates"]


def _grade_change(row: asyncpg.Record) -> HumanGradeChange:
    return HumanGradeChange.model_validate(dict(row))
