"""The review queue's priority score: how much a human grade of a candidate would teach.

Pure, no I/O: candidates in, scores and the queue's items out (``services.panels`` reads
the candidates from ``store/panels.py``). A candidate without any human
grade scores the sum of:

- ``panel_disagreement`` (2.0) when the members of the evaluation run's latest completed
  panel run disagree on it (``panels.aggregate.disagrees``);
- ``boundary_grade`` (1.0) when its current AI grade sits on the relevant/not-relevant
  boundary: ``relevant_min_grade`` or ``relevant_min_grade - 1``, where one grade of
  error flips P@K, AP and RR;
- ``rank`` weight 1 / log2(rank + 1) (1.0 at rank 1, 0.63 at rank 2, 0.5 at rank 3: the
  discount of nDCG, so the candidates that weigh most in the metrics come first; ranks
  below 1 count as 1); the reason ``high_rank`` is given for ranks 1–3;
- ``query_not_sampled`` (1.0) when its query has no human grade at all yet, so the human
  sample of the prediction-powered estimates (the queries with at least one human grade,
  docs/metrics.md) grows across queries rather than deeper into one.

Ties are broken by (query_id, rank, candidate_id), so the order is total and repeatable.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from releval_judge.panels.models import (
    QueueCandidate,
    ReviewCandidate,
    ReviewQueueItem,
    ReviewReason,
)

WEIGHTS: dict[str, float] = {
    "panel_disagreement": 2.0,
    "boundary_grade": 1.0,
    "rank": 1.0,
    "query_not_sampled": 1.0,
}
HIGH_RANK = 3
# What an item shows of its candidate.
_LISTED = set(ReviewCandidate.model_fields)


@dataclass(frozen=True)
class Scored:
    score: float
    reasons: list[ReviewReason]


def rank_weight(rank: int) -> float:
    return 1.0 / math.log2(max(rank, 1) + 1)


def score(candidate: QueueCandidate, relevant_min_grade: int) -> Scored:
    """The candidate's priority and the reasons that contributed to it."""
    reasons: list[ReviewReason] = []
    total = 0.0
    if candidate.panel_disagreement:
        total += WEIGHTS["panel_disagreement"]
        reasons.append("panel_disagreement")
    if candidate.ai_grade is not None and candidate.ai_grade in (
        relevant_min_grade - 1,
        relevant_min_grade,
    ):
        total += WEIGHTS["boundary_grade"]
        reasons.append("boundary_grade")
    total += WEIGHTS["rank"] * rank_weight(candidate.rank)
    if candidate.rank <= HIGH_RANK:
        reasons.append("high_rank")
    if not candidate.query_sampled:
        total += WEIGHTS["query_not_sampled"]
        reasons.append("query_not_sampled")
    return Scored(round(total, 6), reasons)


@dataclass(frozen=True)
class _Entry:
    """Heap entry ordered worst first, so the heap's root is the one to drop."""

    scored: Scored
    candidate: QueueCandidate

    def key(self) -> tuple[float, str, int, str]:
        c = self.candidate
        return (-self.scored.score, c.query_id, c.rank, c.candidate_id)

    def __lt__(self, other: _Entry) -> bool:
        return self.key() > other.key()


class Queue:
    """The ``limit`` highest-scoring candidates seen so far (memory: ``limit`` entries)."""

    def __init__(self, relevant_min_grade: int, limit: int) -> None:
        self.relevant_min_grade = relevant_min_grade
        self.limit = limit
        self._heap: list[_Entry] = []

    def add(self, candidate: QueueCandidate) -> None:
        entry = _Entry(score(candidate, self.relevant_min_grade), candidate)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif self._heap[0] < entry:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list[ReviewQueueItem]:
        """Best first."""
        ordered = sorted(self._heap, key=_Entry.key)
        return [
            ReviewQueueItem(
                **e.candidate.model_dump(include=_LISTED),
                score=e.scored.score,
                reasons=e.scored.reasons,
            )
            for e in ordered
        ]
