"""Judge tests (``POST /ai-judges/{id}/test``): a judge tried on a few candidates, nothing
written."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from releval_judge.models.agreement import AgreementFigures
from releval_judge.models.base import (
    AiJudgeId,
    CandidateId,
    EvaluationRunId,
    Key,
    Seed,
    Strict,
)
from releval_judge.models.costs import Cost
from releval_judge.models.judgments import HumanJudgeName
from releval_judge.scale import Scale


class JudgeTestCandidate(Strict):
    text: str = Field(max_length=1_000_000)
    title: str | None = Field(None, max_length=100_000)
    doc_id: Key | None = None
    rank: int | None = Field(None, ge=0, le=1_000_000_000)
    fields: dict[str, Any] = Field(default_factory=dict)


class JudgeTestRequest(Strict):
    """Either a query with inline candidates (graded on ``scale``, default 0–3), or a
    random sample of an evaluation run's candidates."""

    query: str | None = Field(None, min_length=1, max_length=10_000)
    candidates: list[JudgeTestCandidate] | None = Field(None, min_length=1, max_length=100)
    scale: Scale | None = None
    evaluation_run_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    sample_size: int | None = Field(None, ge=1, le=100)
    seed: Seed | None = None
    human_judge: HumanJudgeName | None = None

    @model_validator(mode="after")
    def _one_form(self) -> JudgeTestRequest:
        inline = self.query is not None or self.candidates is not None
        if inline and self.evaluation_run_id is not None:
            raise ValueError(
                "give either query and candidates, or evaluation_run_id and sample_size"
            )
        if inline:
            if self.query is None or self.candidates is None:
                raise ValueError("query and candidates go together")
            extra = [
                name
                for name in ("sample_size", "seed", "human_judge")
                if getattr(self, name) is not None
            ]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply with evaluation_run_id")
        elif self.evaluation_run_id is None:
            raise ValueError("give either query and candidates, or evaluation_run_id")
        elif self.scale is not None:
            raise ValueError("scale only applies to inline candidates (a run has its own)")
        return self


class JudgeTestCall(BaseModel):
    """One provider call of a judge test: the prompt as sent and the answer as received."""

    query_id: str | None
    query: str
    candidates: int
    prompt: str
    raw_answer: str | None
    input_tokens: int
    output_tokens: int
    error: str | None


class JudgeTestItem(BaseModel):
    """One candidate of a judge test: its grade and reasoning, or why it has none."""

    call: int
    candidate_id: CandidateId | None
    query_id: str | None
    doc_id: str | None
    rank: int
    title: str | None
    grade: int | None
    label: str | None
    reasoning: str | None
    failure: str | None
    human_grade: int | None


class JudgeTestResult(BaseModel):
    """``POST /ai-judges/{id}/test``: nothing of it is written to the database."""

    ai_judge_id: AiJudgeId
    ai_judge_name: str
    model: str
    evaluation_run_id: EvaluationRunId | None
    scale: Scale
    seed: int | None
    human_judge: str | None
    judged: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost: Cost | None
    calls: list[JudgeTestCall]
    results: list[JudgeTestItem]
    agreement: AgreementFigures | None
