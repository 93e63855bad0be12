"""How far an AI judge agrees with a human judge (``GET /ai-judging-runs/{id}/agreement``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from releval_judge.models.base import EvaluationRunId, JudgingRunId
from releval_judge.scale import Scale


class ConfusionMatrix(BaseModel):
    """``counts[i][j]``: candidates the human graded ``grades[i]`` and the AI ``grades[j]``."""

    rows: Literal["human"] = "human"
    columns: Literal["ai"] = "ai"
    grades: list[int]
    labels: list[str | None]
    counts: list[list[int]]


class AgreementFigures(BaseModel):
    """How far the AI judge agrees with a human judge (``null`` where undefined)."""

    pairs: int
    exact_agreement: float | None
    within_one_agreement: float | None
    cohen_kappa: float | None
    cohen_kappa_quadratic: float | None
    krippendorff_alpha_ordinal: float | None
    relevant_from: int
    """The lowest grade that counts as relevant (``relevant_min_grade`` in the metrics and
    the review queue; this route's own name for it, kept for its clients)."""
    binary_kappa: float | None
    binary_agreement: float | None
    mean_signed_difference: float | None
    confusion_matrix: ConfusionMatrix


class AgreementReport(AgreementFigures):
    """``GET /ai-judging-runs/{id}/agreement``."""

    ai_judging_run_id: JudgingRunId
    evaluation_run_id: EvaluationRunId
    ai_judge_name: str
    human_judge: str | None
    scale: Scale
