"""Request and response bodies of the REST API (pydantic v2), with Literal statuses."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, NewType, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)

from releval_judge.scale import Scale

EvaluationRunId = NewType("EvaluationRunId", str)
AiJudgeId = NewType("AiJudgeId", str)
JudgingRunId = NewType("JudgingRunId", str)
CandidateId = NewType("CandidateId", str)

EvaluationRunStatus = Literal["pending", "queued", "running", "completed", "failed"]
JudgingRunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
ACTIVE_JUDGING_STATUSES: tuple[JudgingRunStatus, ...] = ("queued", "running")
ProviderName = Literal["openai", "anthropic"]
JudgmentSource = Literal["ai", "human"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=500)]

T = TypeVar("T")


def check_storable(value: Any) -> None:
    """Refuse what PostgreSQL cannot store: NUL in text, NaN or Infinity in JSON numbers.

    Checked on input so that such a value is a 422 naming the field, not a database
    error (a 500) halfway through a write.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text cannot contain the NUL character (\\u0000)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item)
    elif isinstance(value, BaseModel):
        for _, item in value:
            check_storable(item)


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; every value
    must be storable (see :func:`check_storable`)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        check_storable(value)
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


# --- evaluation runs -------------------------------------------------------------------


class CandidateIn(Strict):
    doc_id: Key
    rank: int = Field(ge=0, le=1_000_000_000)
    title: str | None = Field(None, max_length=100_000)
    text: str | None = Field(None, max_length=1_000_000)
    fields: dict[str, Any] = Field(default_factory=dict)


class QueryIn(Strict):
    text: str = Field(min_length=1, max_length=10_000)
    query_id: Key | None = None
    candidates: list[CandidateIn] = Field(default_factory=list)


class EvaluationRunCreate(Strict):
    name: Name
    status: EvaluationRunStatus = "completed"
    scale: Scale
    queries: list[QueryIn] = Field(default_factory=list)


class EvaluationRunPatch(Strict):
    status: EvaluationRunStatus | None = None
    locked: bool | None = None


class CandidateLine(Strict):
    """One line of an NDJSON bulk import."""

    query_id: Key
    query: str = Field(min_length=1, max_length=10_000)
    doc_id: Key
    rank: int = Field(ge=0, le=1_000_000_000)
    title: str | None = Field(None, max_length=100_000)
    text: str | None = Field(None, max_length=1_000_000)
    fields: dict[str, Any] = Field(default_factory=dict)


class EvaluationRun(BaseModel):
    id: EvaluationRunId
    name: str
    status: EvaluationRunStatus
    locked: bool
    scale: Scale
    query_count: int
    candidate_count: int
    created_at: datetime


class ImportResult(BaseModel):
    evaluation_run_id: EvaluationRunId
    imported: int
    queries_added: int
    evaluation_run: EvaluationRun


# --- AI judges -------------------------------------------------------------------------

# Stored in PostgreSQL ``integer`` columns.
INT32_MAX = 2_147_483_647

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
BaseUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]


class AiJudgeFields(Strict):
    """Fields shared by create and patch; bounds from the contract."""

    name: Name
    provider: ProviderName
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    base_url: BaseUrl | None = None
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=10_000)] | None = None
    api_key_env: EnvName | None = None
    prompt_template: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] | None = (
        None
    )
    batch_size: int = Field(10, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=1024)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(5, ge=0, le=100)
    requests_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=INT32_MAX)


class AiJudgeCreate(AiJudgeFields):
    pass


class AiJudgePatch(Strict):
    """Every field optional; ``null`` clears the nullable ones."""

    name: Name | None = None
    provider: ProviderName | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    base_url: BaseUrl | None = None
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=10_000)] | None = None
    api_key_env: EnvName | None = None
    prompt_template: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] | None = (
        None
    )
    batch_size: int | None = Field(None, ge=1, le=100)
    concurrency: int | None = Field(None, ge=1, le=1024)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    request_timeout_s: float | None = Field(None, gt=0, le=3600)
    max_retries: int | None = Field(None, ge=0, le=100)
    requests_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=INT32_MAX)


class JudgeConfig(BaseModel):
    """A judge as stored and as snapshotted into each judging run (key still encrypted)."""

    name: str
    provider: ProviderName
    model: str
    base_url: str | None = None
    api_key_encrypted: str | None = None
    api_key_env: str | None = None
    prompt_template: str | None = None
    batch_size: int = 10
    concurrency: int = 4
    temperature: float = 0.0
    max_output_tokens: int | None = None
    request_timeout_s: float = 60.0
    max_retries: int = 5
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class AiJudge(BaseModel):
    id: AiJudgeId
    name: str
    provider: ProviderName
    model: str
    base_url: str | None
    api_key_set: bool
    api_key_env: str | None
    prompt_template: str | None
    batch_size: int
    concurrency: int
    temperature: float
    max_output_tokens: int | None
    request_timeout_s: float
    max_retries: int
    requests_per_minute: int | None
    tokens_per_minute: int | None
    created_at: datetime
    updated_at: datetime


# --- AI judging runs -------------------------------------------------------------------


class JudgingRunCreate(Strict):
    ai_judge_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class JudgingRun(BaseModel):
    id: JudgingRunId
    evaluation_run_id: EvaluationRunId
    ai_judge_id: AiJudgeId | None
    ai_judge_name: str
    status: JudgingRunStatus
    total: int
    judged: int
    failed: int
    input_tokens: int
    output_tokens: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

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


# --- judgments -------------------------------------------------------------------------


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


# --- tokens ----------------------------------------------------------------------------


class ApiToken(BaseModel):
    id: str
    name: str
    created_at: datetime
