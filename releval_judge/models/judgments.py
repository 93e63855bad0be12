"""Judgments: the current grade of a candidate by an AI or a human judge, a judging run's
own, random samples, and the history of human grades."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from releval_judge.models.base import (
    CandidateId,
    Grade,
    JudgingRunId,
    JudgmentSource,
    Strict,
)


class Judgment(BaseModel):
    candidate_id: CandidateId
    query_id: str
    query: str
    doc_id: str
    rank: int
    grade: int
    label: str | None
    reasoning: str
    source: JudgmentSource
    judge: str
    ai_judging_run_id: JudgingRunId | None
    created_at: datetime


HumanJudgeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^/]+$")
]


class HumanJudgmentPut(Strict):
    """``PUT …/candidates/{candidate_id}/judgments/{judge}``: a human judge's grade."""

    grade: Grade
    reasoning: str = Field("", max_length=20_000)


HistoryAction = Literal["put", "delete"]


class HumanGradeChange(BaseModel):
    """One write (``put``) or delete of a human judge's grade of a candidate, as kept in
    the grade's append-only history; ``by`` is the name of the token that made it."""

    candidate_id: CandidateId
    judge: str
    grade: int | None
    """The grade written; null for a delete."""
    reasoning: str | None
    """The reasoning written; null for a delete."""
    action: HistoryAction
    by: str
    at: datetime


class RunJudgment(Judgment):
    """A judgment one judging run produced; ``current`` while no later run replaced it."""

    current: bool
    reused_from: JudgingRunId | None = None
    """The judging run whose provider call gave this grade, when this run reused it by
    fingerprint (docs/decisions.md, "Reuse by fingerprint"); null when judged by its own."""


class JudgmentSample(BaseModel):
    """Judgments drawn at random; the same ``seed`` draws the same ones again."""

    seed: int
    items: list[Judgment]
