"""Query parameters and answers of the metrics routes (docs/metrics.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from releval_judge.metrics.measures import DEFAULT_MEASURES, Source
from releval_judge.models import EvaluationRunId, Grade, Strict

MeasureList = Annotated[str, Field(min_length=1, max_length=1000)]
HumanJudge = Annotated[str, Field(min_length=1, max_length=200)]

# --- GET /evaluations/runs/{id}/metrics ------------------------------------------------


class MetricsParams(Strict):
    measures: MeasureList = DEFAULT_MEASURES
    source: Source = "human_else_ai"
    human_judge: HumanJudge | None = None
    relevant_min_grade: Grade | None = None
    ai_judging_run_id: str | None = Field(None, min_length=1, max_length=100)


class QueryMetrics(BaseModel):
    """``{"query_id": "q1", "ndcg@10": 0.8, …}``: one query's value of each measure."""

    model_config = ConfigDict(extra="allow")

    query_id: str
    __pydantic_extra__: dict[str, float]


class RetrievalMetrics(BaseModel):
    """Each measure's mean over the run's queries, and its value per query."""

    source: Source
    relevant_min_grade: int
    measures: dict[str, float]
    queries: list[QueryMetrics]


# --- GET /evaluations/compare ----------------------------------------------------------


class CompareParams(Strict):
    runs: str = Field(
        min_length=1,
        max_length=2000,
        description="comma-separated evaluation run ids; the first is the baseline",
    )
    measures: MeasureList = DEFAULT_MEASURES
    source: Source = "human_else_ai"
    human_judge: HumanJudge | None = None
    relevant_min_grade: Grade | None = None


class ComparedRun(BaseModel):
    evaluation_run_id: EvaluationRunId
    name: str
    queries: int = Field(description="the run's own queries, shared or not")
    measures: dict[str, float] = Field(description="means over the shared queries")


class PairedDifference(BaseModel):
    """One run against the baseline on one measure, paired by query."""

    evaluation_run_id: EvaluationRunId
    measure: str
    baseline_mean: float
    mean: float
    difference: float = Field(description="mean of (run − baseline) over the shared queries")
    p_value: float | None = Field(description="two-sided, paired randomisation test")


class SignificanceTest(BaseModel):
    name: str = "paired randomisation (sign flips), two-sided"
    permutations: int
    seed: int


class ComparedQuery(BaseModel):
    query_id: str
    runs: dict[str, dict[str, float]] = Field(description="evaluation run id → measure → value")


class SystemRankCorrelation(BaseModel):
    """Kendall's tau-b between the ranking of the runs under AI and under human grades."""

    measure: str
    kendall_tau: float | None
    reason: str | None = Field(description="why kendall_tau is null, else null")
    ai: dict[str, float] = Field(description="evaluation run id → mean under AI grades")
    human: dict[str, float] = Field(description="evaluation run id → mean under human grades")


class SystemComparison(BaseModel):
    source: Source
    relevant_min_grade: int
    baseline: EvaluationRunId
    runs: list[ComparedRun]
    shared_queries: int = Field(description="queries every run has: all figures are over these")
    excluded_queries: dict[str, int] = Field(
        description="evaluation run id → its queries left out because another run lacks them"
    )
    test: SignificanceTest
    differences: list[PairedDifference]
    rank_correlation: list[SystemRankCorrelation]
    queries: list[ComparedQuery]


# --- GET /evaluations/runs/{id}/estimates ----------------------------------------------


class EstimatesParams(Strict):
    measures: MeasureList = DEFAULT_MEASURES
    human_judge: HumanJudge | None = None
    relevant_min_grade: Grade | None = None
    ai_judging_run_id: str | None = Field(None, min_length=1, max_length=100)


class MetricInterval(BaseModel):
    estimate: float | None
    low: float | None
    high: float | None


class MeasureEstimate(BaseModel):
    measure: str
    prediction_powered: MetricInterval = Field(
        description="mean under AI grades + mean (human − AI) over the human-graded sample"
    )
    ai_only: MetricInterval = Field(
        description="mean under AI grades; its interval ignores the AI judge's bias"
    )
    human_only: MetricInterval = Field(description="mean over the human-graded sample")
    narrower_than_human_only: bool | None = Field(
        description="whether the prediction-powered interval is the narrower (null: undefined)"
    )


class MetricEstimates(BaseModel):
    evaluation_run_id: EvaluationRunId
    relevant_min_grade: int
    confidence: float
    queries: int = Field(description="queries of the run (AI grades)")
    sample_queries: int = Field(description="queries with at least one human grade")
    incomplete_sample_queries: int = Field(
        description="sampled queries with candidates no human graded (they count as unjudged)"
    )
    estimates: list[MeasureEstimate]
    warnings: list[str]
