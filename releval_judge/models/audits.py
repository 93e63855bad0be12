"""Audits of an AI judging run: how far to trust its judge's grades (DESIGN.md, "Audits";
docs/reviewing.md, "Auditing a judge").

An audit re-judges a seeded sample of the run's judged candidates twice, "repeat" (the
run's batches in the same order) and "order" (each batch reversed), and reports the
test–retest agreement, the effect of a document's position in its batch, and a verdict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NewType

from pydantic import BaseModel, Field

from releval_judge.models.base import EvaluationRunId, JudgingRunId, Seed, Strict
from releval_judge.models.costs import Cost

AuditId = NewType("AuditId", str)
AuditStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
ACTIVE_AUDIT_STATUSES: tuple[AuditStatus, ...] = ("queued", "running")
Verdict = Literal["order_sensitive", "unstable", "consistent"]

MAX_AUDIT_SAMPLE = 10_000
"""An audit is a check, not a second run: two passes over at most this many candidates."""


class AuditCreate(Strict):
    sample_size: Annotated[int, Field(ge=2, le=MAX_AUDIT_SAMPLE)] = 100
    seed: Seed | None = None
    """Fixes the sample (which queries, in which order); drawn at random when absent."""


class PassAgreement(BaseModel):
    """A pass's grades against a reference: for "repeat" the run's own grades (test–retest:
    the same batches, the same order), for "order" the repeat pass's (the same batches,
    reversed: only the order differs). ``exact`` is the share of candidates graded the
    same, ``weighted_kappa`` Cohen's κ with quadratic weights on the scale's grades (null
    where undefined: no pairs, or one grade only on both sides)."""

    pairs: int
    exact: float | None
    weighted_kappa: float | None


class PositionEffect(BaseModel):
    """The mean of (grade when first in its batch − grade when last) over the documents
    that were first in one pass and last in the other, with its 95% interval (normal
    approximation; null with fewer than two pairs)."""

    first_minus_last: float | None
    ci95: tuple[float, float] | None
    pairs: int
    mean_first: float | None = None
    """The mean grade of those documents when first in their batch (null without pairs;
    absent from audits that ended before it was reported): the UI's grade-by-position plot."""
    mean_last: float | None = None
    """Their mean grade when last in their batch."""


class Audit(BaseModel):
    id: AuditId
    ai_judging_run_id: JudgingRunId
    evaluation_run_id: EvaluationRunId
    status: AuditStatus
    seed: int
    sample_size: int
    """Asked for until the sample is drawn; then the candidates drawn (fewer when the run
    judged fewer)."""
    failed: int
    """Sampled candidates that a pass could not grade (left out of that pass's figures)."""
    calls: int
    input_tokens: int
    output_tokens: int
    cost: Cost | None
    repeat: PassAgreement | None
    order: PassAgreement | None
    position: PositionEffect | None
    verdict: Verdict | None
    error: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
