"""Reads and writes of judge panels, panel runs and the panel's aggregate judgments, and the
review queue's candidates. Queries are the named blocks of ``panels.sql``.

The member judging runs themselves are created and ended by ``Store`` and the runner (the
same functions the judging-run route uses); this module only links them to panel runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from releval_judge.errors import NotFound, PanelInUse, PanelRunEnded
from releval_judge.models import JudgingRunScope, Page
from releval_judge.panels.aggregate import PanelAgreement
from releval_judge.panels.models import (
    JudgePanel,
    JudgePanelCreate,
    PanelJudgment,
    PanelRun,
    PanelRunAgreement,
    PanelRunMember,
    QueueCandidate,
)
from releval_judge.store.database import plan_each_execution
from releval_judge.store.pages import (
    candidate_cursor,
    candidate_key,
    page,
    parse_uuid,
    seq_cursor,
    seq_key,
    time_cursor,
    time_key,
)
from releval_judge.store.sql import queries

Q = queries()
PREFETCH = 2000


def _panel(row: asyncpg.Record) -> JudgePanel:
    return JudgePanel(
        id=str(row["id"]),
        name=row["name"],
        aggregation=row["aggregation"],
        ai_judge_ids=[str(j) for j in row["ai_judge_ids"]],
        created_at=row["created_at"],
    )


def _panel_run(row: asyncpg.Record, members: Sequence[asyncpg.Record]) -> PanelRun:
    agreement = None
    if row["status"] == "completed":
        agreement = PanelRunAgreement(
            candidates=row["candidates"],
            complete_candidates=row["complete_candidates"],
            disagreements=row["disagreements"],
            fleiss_kappa=row["fleiss_kappa"],
            krippendorff_alpha_ordinal=row["krippendorff_alpha"],
        )
    return PanelRun(
        id=str(row["id"]),
        panel_id=str(row["panel_id"]) if row["panel_id"] else None,
        panel_name=row["panel_name"],
        aggregation=row["aggregation"],
        evaluation_run_id=str(row["evaluation_run_id"]),
        scope=row["scope"],
        status=row["status"],
        error=row["error"],
        member_count=row["members"],
        members=[
            PanelRunMember(
                position=m["position"],
                ai_judging_run_id=str(m["id"]),
                ai_judge_id=str(m["ai_judge_id"]) if m["ai_judge_id"] else None,
                ai_judge_name=m["ai_judge_name"],
                status=m["status"],
                total=m["total"],
                judged=m["judged"],
                failed=m["failed"],
                error=m["error"],
            )
            for m in members
        ],
        agreement=agreement,
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        created_by=row["created_by"],
        cancelled_by=row["cancelled_by"],
    )


def _panel_judgment(row: asyncpg.Record) -> PanelJudgment:
    return PanelJudgment(
        candidate_id=str(row["candidate_id"]),
        query_id=row["query_id"],
        doc_id=row["doc_id"],
        rank=row["rank"],
        grade=row["grade"],
        member_grades=list(row["member_grades"] or []),
        disagreement=row["disagreement"],
    )


@dataclass(frozen=True)
class AggregateWrite:
    """The panel's judgment of one candidate."""

    candidate_id: UUID
    grade: int
    disagreement: bool
    reasoning: str


class PanelStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- panels ------------------------------------------------------------------------

    async def create_panel(self, body: JudgePanelCreate) -> JudgePanel:
        ids = [parse_uuid(j, "AI judge") for j in body.ai_judge_ids]
        async with self.pool.acquire() as conn, conn.transaction():
            missing = await conn.fetch(Q["missing_judges"], ids)
            if missing:
                raise NotFound("AI judge", str(missing[0]["id"]))
            row = await conn.fetchrow(Q["insert_panel"], body.name, body.aggregation, ids)
        assert row is not None
        return _panel(row)

    async def get_panel(self, panel_id: str) -> JudgePanel:
        row = await self.pool.fetchrow(Q["get_panel"], parse_uuid(panel_id, "judge panel"))
        if row is None:
            raise NotFound("judge panel", panel_id)
        return _panel(row)

    async def list_panels(self, *, limit: int, cursor: str | None) -> Page[JudgePanel]:
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(Q["list_panels"], after_at, after_id, limit + 1)
        return page(Page[JudgePanel], rows, limit, _panel, time_key())

    async def delete_panel(self, panel_id: str) -> None:
        uuid = parse_uuid(panel_id, "judge panel")
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchrow(Q["get_panel_for_update"], uuid) is None:
                raise NotFound("judge panel", panel_id)
            running = await conn.fetchval(Q["count_running_panel_runs_of_panel"], uuid)
            if running:
                raise PanelInUse(panel_id, running)
            await conn.execute(Q["delete_panel"], uuid)

    # --- panel runs --------------------------------------------------------------------

    async def active_judging_runs(self, evaluation_run_id: str) -> int:
        count: int = await self.pool.fetchval(
            Q["count_active_judging_runs"], parse_uuid(evaluation_run_id, "evaluation run")
        )
        return count

    async def create_panel_run(
        self,
        panel_id: str,
        evaluation_run_id: str,
        *,
        scope: JudgingRunScope,
        members: int,
        created_by: str,
    ) -> str:
        row = await self.pool.fetchrow(
            Q["insert_panel_run"],
            parse_uuid(panel_id, "judge panel"),
            scope,
            members,
            parse_uuid(evaluation_run_id, "evaluation run"),
            created_by,
        )
        if row is None:
            raise NotFound("judge panel", panel_id)
        return str(row["id"])

    async def add_member(self, panel_run_id: str, position: int, judging_run_id: str) -> None:
        await self.pool.execute(
            Q["insert_panel_run_member"], UUID(panel_run_id), position, UUID(judging_run_id)
        )

    async def get_panel_run(self, panel_run_id: str) -> PanelRun:
        uuid = parse_uuid(panel_run_id, "panel run")
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            row = await conn.fetchrow(Q["get_panel_run"], uuid)
            if row is None:
                raise NotFound("panel run", panel_run_id)
            members = await conn.fetch(Q["panel_run_members"], uuid)
        return _panel_run(row, members)

    async def list_panel_runs(
        self, evaluation_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[PanelRun]:
        uuid = parse_uuid(evaluation_run_id, "evaluation run")
        after = seq_cursor(cursor)
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            rows = await conn.fetch(Q["list_panel_runs"], uuid, after, limit + 1)
            members = {
                r["id"]: await conn.fetch(Q["panel_run_members"], r["id"]) for r in rows[:limit]
            }
        return page(Page[PanelRun], rows, limit, lambda r: _panel_run(r, members[r["id"]]), seq_key)

    async def latest_completed_panel_run(self, evaluation_run_id: str) -> str | None:
        value = await self.pool.fetchval(Q["latest_completed_panel_run"], UUID(evaluation_run_id))
        return str(value) if value is not None else None

    async def running_panel_runs(self) -> list[str]:
        return [str(r["id"]) for r in await self.pool.fetch(Q["running_panel_runs"])]

    async def member_grades(self, panel_run_id: str) -> list[tuple[UUID, list[int]]]:
        """Per candidate some member graded: the grades of the members that graded it."""
        rows = await self.pool.fetch(Q["panel_member_grades"], UUID(panel_run_id))
        return [(r["candidate_id"], list(r["grades"])) for r in rows]

    async def end_panel_run(self, panel_run_id: str, status: str, error: str | None) -> bool:
        """running → ``status``, by the service itself; False when the panel run had
        already ended."""
        row = await self.pool.fetchrow(Q["end_panel_run"], UUID(panel_run_id), status, error, None)
        return row is not None

    async def cancel_panel_run(self, panel_run_id: str, *, by: str) -> PanelRun:
        """running → cancelled by ``by`` (a token's name); raises PanelRunEnded once it
        ended."""
        uuid = parse_uuid(panel_run_id, "panel run")
        if await self.pool.fetchrow(Q["end_panel_run"], uuid, "cancelled", None, by) is None:
            existing = await self.get_panel_run(panel_run_id)
            raise PanelRunEnded(panel_run_id, existing.status)
        return await self.get_panel_run(panel_run_id)

    async def finish_panel_run(
        self,
        evaluation_run_id: str,
        panel_run_id: str,
        judge_name: str,
        writes: Sequence[AggregateWrite],
        agreement: PanelAgreement,
    ) -> tuple[bool, bool]:
        """Write the aggregate and complete the panel run in one statement.

        Returns (written, still_running): nothing is written when the panel run is no
        longer running (cancelled meanwhile) or the evaluation run is locked.
        """
        row = await self.pool.fetchrow(
            Q["finish_panel_run"],
            UUID(evaluation_run_id),
            UUID(panel_run_id),
            judge_name,
            [w.candidate_id for w in writes],
            [w.grade for w in writes],
            [w.disagreement for w in writes],
            [w.reasoning for w in writes],
            agreement.candidates,
            agreement.complete_candidates,
            agreement.disagreements,
            agreement.fleiss_kappa,
            agreement.krippendorff_alpha_ordinal,
        )
        assert row is not None
        return bool(row["ok"]), bool(row["running"])

    async def list_panel_judgments(
        self,
        panel_run_id: str,
        *,
        disagreement: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PanelJudgment]:
        uuid = parse_uuid(panel_run_id, "panel run")
        after = candidate_cursor(cursor)
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            if await conn.fetchrow(Q["get_panel_run"], uuid) is None:
                raise NotFound("panel run", panel_run_id)
            await plan_each_execution(conn)  # planned for this cursor
            rows = await conn.fetch(
                Q["list_panel_judgments"], uuid, disagreement, *after, limit + 1
            )
        return page(Page[PanelJudgment], rows, limit, _panel_judgment, candidate_key)

    # --- review queue ------------------------------------------------------------------

    async def queue_candidates(
        self, evaluation_run_id: str, panel_run_id: str | None
    ) -> AsyncIterator[QueueCandidate]:
        """Every candidate of the run without a human grade, streamed from a cursor."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = conn.cursor(
                Q["review_queue_candidates"],
                UUID(evaluation_run_id),
                UUID(panel_run_id) if panel_run_id else None,
                prefetch=PREFETCH,
            )
            async for r in cursor:
                yield QueueCandidate(
                    candidate_id=str(r["candidate_id"]),
                    query_id=r["query_id"],
                    query=r["query"],
                    doc_id=r["doc_id"],
                    rank=r["rank"],
                    title=r["title"],
                    ai_grade=r["ai_grade"],
                    ai_judge=r["ai_judge"],
                    panel_disagreement=r["panel_disagreement"],
                    query_sampled=r["query_sampled"],
                )
