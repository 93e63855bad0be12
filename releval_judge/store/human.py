"""Human judgments: one grade per (candidate, human judge), kept beside the AI judgments.

Bulk loading by (query_id, doc_id), all or nothing: the demo's sample data comes in through
here. Single judgments by candidate id go through the review routes (store/review.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from releval_judge.errors import ValidationFailed
from releval_judge.store.database import PoolUser
from releval_judge.store.evaluation_runs import hold_for_judgments
from releval_judge.store.pages import parse_uuid
from releval_judge.store.sql import queries

Q = queries()


@dataclass(frozen=True)
class HumanJudgmentWrite:
    """One human judgment, addressed the way a person knows the candidate."""

    query_id: str
    doc_id: str
    judge: str
    grade: int
    reasoning: str = ""


class HumanJudgments(PoolUser):
    """Writes human judgments (reads go through the judgments listing)."""

    async def add(
        self, evaluation_run_id: str, judgments: Sequence[HumanJudgmentWrite], *, by: str
    ) -> int:
        """Record ``judgments`` on the evaluation run, all or none; returns how many.

        Each write is appended to its grade's history as made by ``by`` (a token's name),
        in the same statement. A judge grading a candidate again replaces the earlier
        grade. Raises NotFound for
        an unknown run, EvaluationRunLocked for a locked one, and ValidationFailed — with
        nothing written — for a grade outside the run's scale, a (query_id, doc_id) that
        is not one of its candidates, or the same candidate and judge twice.
        """
        uuid = parse_uuid(evaluation_run_id, "evaluation run")
        seen: set[tuple[str, str, str]] = set()
        for index, j in enumerate(judgments):
            key = (j.query_id, j.doc_id, j.judge)
            if key in seen:
                raise ValidationFailed(
                    f"judge {j.judge!r} grades ({j.query_id!r}, {j.doc_id!r}) twice",
                    details=[{"loc": [index]}],
                )
            seen.add(key)
        async with self.pool.acquire() as conn, conn.transaction():
            run = await hold_for_judgments(conn, evaluation_run_id)
            for index, j in enumerate(judgments):
                problem = run.grade_problem(j.grade)
                if problem is not None:
                    raise ValidationFailed(
                        f"{problem} ({j.query_id!r}, {j.doc_id!r})",
                        details=[{"loc": [index, "grade"]}],
                    )
            rows = await conn.fetch(
                Q["insert_human_judgments"],
                uuid,
                [j.query_id for j in judgments],
                [j.doc_id for j in judgments],
                [j.judge for j in judgments],
                [j.grade for j in judgments],
                [j.reasoning for j in judgments],
                by,
            )
            if len(rows) != len(judgments):
                # Raising inside the transaction rolls back what was written.
                raise ValidationFailed(
                    f"{len(judgments) - len(rows)} of {len(judgments)} judgments name no "
                    "candidate of this run (query_id, doc_id); nothing was written"
                )
        return len(rows)
