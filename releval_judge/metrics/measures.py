"""Retrieval measures of one ranked list of graded candidates, as trec_eval defines them.

A query is the list of its candidates in the evaluation run's order (rank, then doc_id),
each with an optional AI grade and an optional human grade. Which grade counts is the
*source*: ``ai``, ``human``, or ``human_else_ai`` (the human grade where there is one).
A candidate without a grade from the source is unjudged: gain 0, not relevant.

Definitions (``tests/integration/test_retrieval_metrics.py`` checks them against
``ir_measures``/trec_eval on random data):

- ``ndcg@K``: DCG@K / ideal DCG@K with gain ``grade - scale.min`` and discount
  ``log2(position + 1)``; the ideal ranking sorts every judged candidate of the query by
  gain. 0 when the ideal DCG is 0 (nothing of positive gain).
- ``p@K``: relevant candidates (grade >= ``relevant_min_grade``) in the first K, over K.
- ``ap``: the sum of P@i over the positions i of relevant candidates, over the query's
  number of relevant candidates (0 when it has none).
- ``rr``: 1 / the position of the first relevant candidate (0 when none).
- ``judged@K``: judged candidates in the first K over min(K, candidates of the query)
  (ir_measures' Judged@K; 0 for a query without candidates).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_MEASURES",
    "SOURCES",
    "Measure",
    "QueryScores",
    "RankedCandidate",
    "RankedQuery",
    "Source",
    "UnknownMeasure",
    "grades_of",
    "mean",
    "means",
    "parse_measures",
    "query_values",
    "score_query",
]

Source = Literal["ai", "human", "human_else_ai"]
SOURCES: tuple[Source, ...] = ("ai", "human", "human_else_ai")
MeasureName = Literal["ndcg", "p", "ap", "rr", "judged"]

DEFAULT_MEASURES = "ndcg@10,p@10,ap,rr,judged@10"
MAX_CUTOFF = 100_000
_MEASURE = re.compile(r"^(?:(ndcg|p|judged)@([1-9][0-9]{0,5})|(ap|rr))$")


@dataclass(frozen=True)
class Measure:
    name: MeasureName
    cutoff: int | None = None

    @property
    def key(self) -> str:
        """The measure as written in the API: ``ndcg@10``, ``ap``."""
        return self.name if self.cutoff is None else f"{self.name}@{self.cutoff}"

    @property
    def bounds(self) -> tuple[float, float]:
        """The values the measure can take: every one of them is a fraction (see the
        module doc), so an estimate or an interval end outside [0, 1] is clipped to it."""
        return (0.0, 1.0)


class UnknownMeasure(ValueError):
    """Measure names that are not ``ndcg@K``, ``p@K``, ``ap``, ``rr`` or ``judged@K``."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        quoted = ", ".join(repr(n) for n in names)
        super().__init__(
            f"unknown measure{'s' if len(names) > 1 else ''} {quoted}; measures are ndcg@K, "
            f"p@K, ap, rr and judged@K with K from 1 to {MAX_CUTOFF:,} (e.g. ndcg@10,p@5,ap)"
        )


def parse_measures(text: str) -> list[Measure]:
    """``"ndcg@10, P@5,ap"`` → measures in the order given, duplicates dropped.

    Names are case-insensitive; an empty list or any unknown name raises UnknownMeasure
    naming every unknown one.
    """
    parsed: list[Measure] = []
    unknown: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        match = _MEASURE.match(name.lower())
        if match is None or (match.group(2) and int(match.group(2)) > MAX_CUTOFF):
            unknown.append(name)
            continue
        if match.group(3):
            measure = Measure(match.group(3))  # type: ignore[arg-type]
        else:
            measure = Measure(match.group(1), int(match.group(2)))  # type: ignore[arg-type]
        if measure not in parsed:
            parsed.append(measure)
    if unknown:
        raise UnknownMeasure(unknown)
    return parsed


@dataclass(frozen=True)
class RankedCandidate:
    doc_id: str
    rank: int
    ai_grade: int | None
    human_grade: int | None


@dataclass(frozen=True)
class RankedQuery:
    """A query's candidates in position order (rank, then doc_id)."""

    query_id: str
    candidates: tuple[RankedCandidate, ...]


def grades_of(query: RankedQuery, source: Source) -> list[int | None]:
    """Each candidate's grade from ``source`` (None: unjudged), in position order."""
    if source == "ai":
        return [c.ai_grade for c in query.candidates]
    if source == "human":
        return [c.human_grade for c in query.candidates]
    return [c.human_grade if c.human_grade is not None else c.ai_grade for c in query.candidates]


def query_values(
    grades: Sequence[int | None],
    measures: Sequence[Measure],
    *,
    scale_min: int,
    relevant_min_grade: int,
) -> dict[str, float]:
    """Every measure of one ranked list of grades (position 1 first)."""
    gains = [0 if g is None else g - scale_min for g in grades]
    relevant = [g is not None and g >= relevant_min_grade for g in grades]
    judged = [g is not None for g in grades]
    ideal = sorted((g - scale_min for g in grades if g is not None), reverse=True)
    relevant_total = sum(relevant)
    values: dict[str, float] = {}
    for m in measures:
        k = m.cutoff
        if m.name == "ndcg":
            assert k is not None
            ideal_dcg = _dcg(ideal[:k])
            values[m.key] = _dcg(gains[:k]) / ideal_dcg if ideal_dcg > 0 else 0.0
        elif m.name == "p":
            assert k is not None
            values[m.key] = sum(relevant[:k]) / k
        elif m.name == "judged":
            assert k is not None
            shown = min(k, len(grades))
            values[m.key] = sum(judged[:k]) / shown if shown else 0.0
        elif m.name == "ap":
            found = 0
            total = 0.0
            for position, is_relevant in enumerate(relevant, start=1):
                if is_relevant:
                    found += 1
                    total += found / position
            values[m.key] = total / relevant_total if relevant_total else 0.0
        else:
            first = next((i for i, r in enumerate(relevant, start=1) if r), None)
            values[m.key] = 1.0 / first if first is not None else 0.0
    return values


def _dcg(gains: Iterable[int]) -> float:
    return sum(g / math.log2(position + 1) for position, g in enumerate(gains, start=1) if g)


@dataclass(frozen=True)
class QueryScores:
    """One query's measures under each source asked for, and how much of it is judged."""

    query_id: str
    candidates: int
    ai_judged: int
    human_judged: int
    values: dict[Source, dict[str, float]]


def score_query(
    query: RankedQuery,
    measures: Sequence[Measure],
    sources: Iterable[Source],
    *,
    scale_min: int,
    relevant_min_grade: int,
) -> QueryScores:
    return QueryScores(
        query_id=query.query_id,
        candidates=len(query.candidates),
        ai_judged=sum(c.ai_grade is not None for c in query.candidates),
        human_judged=sum(c.human_grade is not None for c in query.candidates),
        values={
            source: query_values(
                grades_of(query, source),
                measures,
                scale_min=scale_min,
                relevant_min_grade=relevant_min_grade,
            )
            for source in dict.fromkeys(sources)
        },
    )


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; 0.0 for no values (a run without queries scores 0)."""
    return math.fsum(values) / len(values) if values else 0.0


def means(
    scores: Sequence[QueryScores], measures: Sequence[Measure], source: Source
) -> dict[str, float]:
    """Each measure's mean over ``scores`` under ``source``."""
    return {m.key: mean([s.values[source][m.key] for s in scores]) for m in measures}
