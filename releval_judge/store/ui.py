"""Reads the web UI needs beyond the API's own: grade counts for its charts, the other
judgments of the candidates on a review page, the human judges of a run, and the
documents of the candidates in the review queue.

Queries are the named blocks of ``ui.sql``. Ids reaching here were already found by the
page (the evaluation run or judging run was read first), so they are valid UUIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
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
class StoredDocument:
    """A candidate's document as stored, with its current AI judgment's reasoning and the
    document rules of the judge that gave it (``judged`` False: no AI judgment yet)."""

    candidate_id: str
    title: str | None
    text: str | None
    fields: dict[str, Any]
    reasoning: str | None
    max_document_chars: int | None
    judge_fields: list[str] | None
    judged: bool


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

    async def queue_documents(
        self, evaluation_run_id: str, candidate_ids: Sequence[str]
    ) -> dict[str, StoredDocument]:
        """The documents of the candidates (of this run) by candidate id."""
        if not candidate_ids:
            return {}
        rows = await self.pool.fetch(
            Q["ui_queue_documents"],
            UUID(evaluation_run_id),
            [UUID(c) for c in dict.fromkeys(candidate_ids)],
        )
        return {
            str(r["candidate_id"]): StoredDocument(
                candidate_id=str(r["candidate_id"]),
                title=r["title"],
                text=r["text"],
                fields=r["fields"] or {},
                reasoning=r["reasoning"],
                max_document_chars=r["max_document_chars"],
                judge_fields=r["judge_fields"],
                judged=r["judged"],
            )
            for r in rows
        }
