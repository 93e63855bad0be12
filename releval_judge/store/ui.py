"""Reads the web UI needs beyond the API's own: grade counts for its charts, the other
judgments of the candidates on a review page, and the human judges of a run.

Queries are the named blocks of ``ui.sql``. Ids reaching here were already found by the
page (the evaluation run or judging run was read first), so they are valid UUIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from releval_judge.models import JudgmentSource
from releval_judge.store.sql import queries
from releval_judge.store.store import Store

Q = queries()


@dataclass(frozen=True)
class CandidateJudgment:
    """One current judgment of a candidate, shown beside the row under review."""

    candidate_id: str
    source: JudgmentSource
    judge: str
    grade: int
    reasoning: str


@dataclass(frozen=True)
class HumanJudgeCount:
    judge: str
    judgments: int


class UiStore:
    def __init__(self, store: Store) -> None:
        self.pool = store.pool

    async def current_grade_counts(self, evaluation_run_id: str) -> dict[int, int]:
        rows = await self.pool.fetch(Q["ui_grade_counts_current"], UUID(evaluation_run_id))
        return {r["grade"]: r["n"] for r in rows}

    async def run_grade_counts(self, judging_run_id: str) -> dict[int, int]:
        rows = await self.pool.fetch(Q["ui_grade_counts_run"], UUID(judging_run_id))
        return {r["grade"]: r["n"] for r in rows}

    async def judgments_of(
        self, evaluation_run_id: str, candidate_ids: Sequence[str]
    ) -> dict[str, list[CandidateJudgment]]:
        """The current judgments of each candidate, AI first, then humans by name."""
        found: dict[str, list[CandidateJudgment]] = {c: [] for c in candidate_ids}
        if not candidate_ids:
            return found
        rows = await self.pool.fetch(
            Q["ui_judgments_of_candidates"],
            UUID(evaluation_run_id),
            [UUID(c) for c in dict.fromkeys(candidate_ids)],
        )
        for r in rows:
            key = str(r["candidate_id"])
            found.setdefault(key, []).append(
                CandidateJudgment(key, r["source"], r["judge"], r["grade"], r["reasoning"])
            )
        return found

    async def human_judges(self, evaluation_run_id: str) -> list[HumanJudgeCount]:
        rows = await self.pool.fetch(Q["ui_human_judges"], UUID(evaluation_run_id))
        return [HumanJudgeCount(r["judge"], r["n"]) for r in rows]
