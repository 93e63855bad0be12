"""AI judging runs: the body that starts one, the run with its progress and cost, and the
candidates it failed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, computed_field

from releval_judge.models.base import (
    ACTIVE_JUDGING_STATUSES,
    AiJudgeId,
    CandidateId,
    Delivery,
    EvaluationRunId,
    JudgingRunId,
    JudgingRunStatus,
    Strict,
)
from releval_judge.models.costs import Cost, MaxCost

JudgingRunScope = Literal["all", "unjudged", "failed"]
"""Which candidates a judging run covers (docs/reviewing.md, "Filling the gaps"):
``all``; ``unjudged``: no current AI judgment; ``failed``: the judging run created last
among those that judged or failed the candidate recorded a failure for it."""


ReuseMode = Literal["fingerprint", "none"]
"""``fingerprint``: a candidate whose fingerprint already has a successful judgment (any
evaluation run, another judging run) takes it instead of a provider call; ``none``: every
candidate is sent (docs/decisions.md, "Reuse by fingerprint")."""


class JudgingRunCreate(Strict):
    ai_judge_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scope: JudgingRunScope = "all"
    max_cost: MaxCost | None = None
    reuse: ReuseMode = "fingerprint"


class ProviderBatch(BaseModel):
    """One batch submitted to the provider's batch API for a judging run.

    ``id`` is the provider's id (null while the batch is being prepared or submitted);
    ``status`` the provider's own (OpenAI: validating, in_progress, finalizing, completed,
    failed, expired, cancelling, cancelled; Anthropic: in_progress, canceling, ended), or
    ours before the provider has it (``preparing``, ``submitting``); ``request_counts``
    the provider's own counts as last polled.
    """

    id: str | None
    status: str
    request_counts: dict[str, int]
    requests: int
    results_read: bool


class JudgingRun(BaseModel):
    id: JudgingRunId
    evaluation_run_id: EvaluationRunId
    ai_judge_id: AiJudgeId | None
    ai_judge_name: str
    status: JudgingRunStatus
    scope: JudgingRunScope = "all"
    total: int
    judged: int
    failed: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reuse: ReuseMode = "fingerprint"
    reused: int = 0
    """Judgments taken from earlier judging runs by fingerprint (part of ``judged``): no
    call, no tokens, no cost."""
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    delivery: Delivery = "live"
    max_cost: float | None = None
    cost: Cost | None = None
    provider_batches: list[ProviderBatch] = Field(default_factory=list)
    created_by: str | None = None
    """The name of the token that started the run (a panel's member: the panel run's);
    null for runs from before this was kept."""
    cancelled_by: str | None = None
    """The name of the token that cancelled the run (directly or through its panel run);
    null unless someone did."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def progress(self) -> float:
        if self.total == 0:
            return 1.0 if self.status == "completed" else 0.0
        return round(min(1.0, (self.judged + self.failed) / self.total), 6)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def partially_judged(self) -> bool:
        return self.status in ("cancelled", "failed") and self.judged + self.failed < self.total

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JUDGING_STATUSES


class CandidateFailure(BaseModel):
    candidate_id: CandidateId
    query_id: str
    doc_id: str
    rank: int
    reason: str
    raw_excerpt: str
    created_at: datetime
