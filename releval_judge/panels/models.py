"""Request and response bodies of the judge-panel and review-queue routes (docs/panels.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NewType

from pydantic import BaseModel, Field, StringConstraints, field_validator

from releval_judge.models import (
    AiJudgeId,
    CandidateId,
    EvaluationRunId,
    JudgingRunId,
    JudgingRunScope,
    JudgingRunStatus,
    Name,
    ReuseMode,
    Strict,
)
from releval_judge.panels.aggregate import Aggregation
from releval_judge.params import PageParams

PanelId = NewType("PanelId", str)
PanelRunId = NewType("PanelRunId", str)
PanelRunStatus = Literal["running", "completed", "failed", "cancelled"]

MIN_MEMBERS = 2
MAX_MEMBERS = 9

Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class JudgePanelCreate(Strict):
    name: Name
    aggregation: Aggregation = "majority"
    ai_judge_ids: Annotated[list[Id], Field(min_length=MIN_MEMBERS, max_length=MAX_MEMBERS)]

    @field_validator("ai_judge_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a judge can sit on a panel only once")
        return value


class JudgePanel(BaseModel):
    id: PanelId
    name: str
    aggregation: Aggregation
    ai_judge_ids: list[AiJudgeId]
    created_at: datetime


class PanelRunCreate(Strict):
    panel_id: Id
    scope: JudgingRunScope = "all"
    reuse: ReuseMode = "fingerprint"
    """Each member's own start body's ``reuse``: a member reuses judgments of its own
    fingerprints (its judge's settings), never another member's."""


class PanelRunMember(BaseModel):
    """One member judging run (a normal AI judging run: ``GET /ai-judging-runs/{id}``)."""

    position: int
    ai_judging_run_id: JudgingRunId
    ai_judge_id: AiJudgeId | None
    ai_judge_name: str
    status: JudgingRunStatus
    total: int
    judged: int
    failed: int
    error: str | None


class PanelRunAgreement(BaseModel):
    """How far the members agree (docs/panels.md); set once the panel run completed."""

    candidates: int
    complete_candidates: int
    disagreements: int
    fleiss_kappa: float | None
    krippendorff_alpha_ordinal: float | None


class PanelRun(BaseModel):
    id: PanelRunId
    panel_id: PanelId | None
    panel_name: str
    aggregation: Aggregation
    evaluation_run_id: EvaluationRunId
    scope: JudgingRunScope
    status: PanelRunStatus
    error: str | None
    member_count: int
    """How many members the panel has (``members`` lists those started)."""
    members: list[PanelRunMember]
    agreement: PanelRunAgreement | None
    created_at: datetime
    finished_at: datetime | None
    created_by: str | None
    """The name of the token that started the panel run (and so its members)."""
    cancelled_by: str | None
    """The name of the token that cancelled it; null unless someone did."""


class PanelJudgment(BaseModel):
    candidate_id: CandidateId
    query_id: str
    doc_id: str
    rank: int
    grade: int
    member_grades: list[int | None]
    """In the panel's member order; null where that member did not grade the candidate."""
    disagreement: bool


class PanelJudgmentParams(PageParams):
    disagreement: bool | None = None


class ReviewQueueParams(Strict):
    limit: int = Field(50, ge=1, le=1000)
    relevant_min_grade: int | None = Field(None, ge=-(2**31 - 1), le=2**31 - 1)


ReviewReason = Literal["panel_disagreement", "boundary_grade", "high_rank", "query_not_sampled"]


class ReviewCandidate(BaseModel):
    """A candidate without any human grade, as the review queue lists it."""

    candidate_id: CandidateId
    query_id: str
    query: str
    doc_id: str
    rank: int
    title: str | None
    ai_grade: int | None
    ai_judge: str | None


class QueueCandidate(ReviewCandidate):
    """A candidate as the review queue scores it (read by ``store/panels.py``)."""

    panel_disagreement: bool | None
    """Whether the latest completed panel run's members disagree on it; null: no such
    panel run, or the panel did not grade it."""
    query_sampled: bool
    """Whether its query has any human grade yet."""


class ReviewQueueItem(ReviewCandidate):
    score: float
    reasons: list[ReviewReason]


class ReviewQueue(BaseModel):
    evaluation_run_id: EvaluationRunId
    relevant_min_grade: int
    panel_run_id: PanelRunId | None
    """The panel run whose disagreement flags were used (the latest completed), or null."""
    weights: dict[str, float]
    items: list[ReviewQueueItem]
