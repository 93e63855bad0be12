"""Request and response bodies of the REST API (pydantic v2), with Literal statuses."""

from __future__ import annotations

import math
import types
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, NewType, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
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
Delivery = Literal["live", "batch"]
"""``live``: one HTTP call per batch of candidates; ``batch``: the provider's batch API."""
ReasoningEffort = Literal["minimal", "low", "medium", "high"]

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

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads true as 1 for a number; JSON says a boolean is not one.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number(field.annotation):
            raise ValueError("a boolean is not a number")
        return value

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        check_storable(value)
        return value


def _is_number(annotation: Any) -> bool:
    """Whether a field's type is a number (int or float, constrained or optional), the only
    fields where a boolean must be refused by hand."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_number(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [arg for arg in get_args(annotation) if arg is not type(None)]
        return bool(kinds) and all(_is_number(arg) for arg in kinds)
    return annotation in (int, float)


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
# Price per million tokens, in whatever currency the user works in (costs come out in it).
Price = Annotated[float, Field(ge=0, le=1_000_000)]
# Multiplies every price of a judging run delivered through the provider's batch API.
BatchPriceFactor = Annotated[float, Field(gt=0, le=1)]
# Names of candidate fields that reach the prompt (see releval_judge/documents.py).
FieldNames = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(max_length=200),
]


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
    # null: not sent at all (reasoning models refuse any value but their default).
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(5, ge=0, le=100)
    requests_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=INT32_MAX)
    # Calls in flight on the provider key at once, over every run and replica (null: none).
    key_concurrency: int | None = Field(None, ge=1, le=1024)
    input_price_per_mtok: Price | None = None
    output_price_per_mtok: Price | None = None
    max_document_chars: int | None = Field(None, ge=1, le=10_000_000)
    fields: FieldNames | None = None
    delivery: Delivery = "live"
    reasoning_effort: ReasoningEffort | None = None
    cached_input_price_per_mtok: Price | None = None
    batch_price_factor: BatchPriceFactor = 0.5


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
    # Calls in flight on the provider key at once, over every run and replica (null: none).
    key_concurrency: int | None = Field(None, ge=1, le=1024)
    input_price_per_mtok: Price | None = None
    output_price_per_mtok: Price | None = None
    max_document_chars: int | None = Field(None, ge=1, le=10_000_000)
    fields: FieldNames | None = None
    delivery: Delivery | None = None
    reasoning_effort: ReasoningEffort | None = None
    cached_input_price_per_mtok: Price | None = None
    batch_price_factor: BatchPriceFactor | None = None


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
    temperature: float | None = None
    max_output_tokens: int | None = None
    request_timeout_s: float = 60.0
    max_retries: int = 5
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    key_concurrency: int | None = None
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    max_document_chars: int | None = None
    fields: list[str] | None = None
    # Snapshots taken before these fields existed read as the behaviour of their time.
    delivery: Delivery = "live"
    reasoning_effort: ReasoningEffort | None = None
    cached_input_price_per_mtok: float | None = None
    batch_price_factor: float = 0.5

    @property
    def prices(self) -> Prices | None:
        """The judge's prices, None unless both the input and the output price are set."""
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return Prices(
            input_per_mtok=self.input_price_per_mtok,
            cached_input_per_mtok=self.cached_input_price_per_mtok,
            output_per_mtok=self.output_price_per_mtok,
        )

    def delivery_factor(self, delivery: Delivery | None = None) -> float:
        """What every price is multiplied by for ``delivery`` (default: the judge's own)."""
        return self.batch_price_factor if (delivery or self.delivery) == "batch" else 1.0


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
    temperature: float | None
    max_output_tokens: int | None
    request_timeout_s: float
    max_retries: int
    requests_per_minute: int | None
    tokens_per_minute: int | None
    key_concurrency: int | None = None
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    max_document_chars: int | None = None
    fields: list[str] | None = None
    delivery: Delivery = "live"
    reasoning_effort: ReasoningEffort | None = None
    cached_input_price_per_mtok: float | None = None
    batch_price_factor: float = 0.5
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    """The name of the token that created the judge (null: created before this was kept)."""
    updated_by: str | None = None
    """The name of the token that created or last changed the judge."""


# --- AI judging runs -------------------------------------------------------------------


JudgingRunScope = Literal["all", "unjudged", "failed"]
"""Which candidates a judging run covers (docs/reviewing.md, "Filling the gaps"):
``all``; ``unjudged``: no current AI judgment; ``failed``: the judging run created last
among those that judged or failed the candidate recorded a failure for it."""


class Prices(BaseModel):
    """A judge's prices per million tokens, in whatever currency the user works in."""

    model_config = ConfigDict(frozen=True)

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    """Cached input tokens (a prompt-cache hit); None: priced as any input token."""

    def cost(
        self,
        input_tokens: float,
        output_tokens: float,
        *,
        cached_input_tokens: float = 0,
        factor: float = 1.0,
    ) -> Cost:
        """``input_tokens`` counts every input token, cached ones included; ``factor``
        multiplies every price (the batch discount)."""
        cached = min(cached_input_tokens, input_tokens)
        cached_price = (
            self.cached_input_per_mtok
            if self.cached_input_per_mtok is not None
            else self.input_per_mtok
        )
        cost_in = (input_tokens - cached) * self.input_per_mtok * factor / 1_000_000
        cost_cached = cached * cached_price * factor / 1_000_000
        cost_out = output_tokens * self.output_per_mtok * factor / 1_000_000
        return Cost(
            input=round(cost_in, 6),
            cached_input=round(cost_cached, 6),
            output=round(cost_out, 6),
            total=round(cost_in + cost_cached + cost_out, 6),
        )


class Cost(BaseModel):
    """Tokens priced at the judge's ``*_price_per_mtok``, in the prices' currency.

    ``input`` is the uncached input, ``cached_input`` the input read from the provider's
    prompt cache; a batch run's prices are multiplied by the judge's ``batch_price_factor``.
    """

    input: float
    output: float
    total: float
    cached_input: float = 0.0

    @classmethod
    def of(
        cls,
        input_tokens: float,
        output_tokens: float,
        input_price_per_mtok: float | None,
        output_price_per_mtok: float | None,
    ) -> Cost | None:
        """None unless both prices are set (a free model sets both to 0)."""
        if input_price_per_mtok is None or output_price_per_mtok is None:
            return None
        return Prices(
            input_per_mtok=input_price_per_mtok, output_per_mtok=output_price_per_mtok
        ).cost(input_tokens, output_tokens)


# A run's spending cap, in the judge's prices' currency.
MaxCost = Annotated[float, Field(gt=0, le=1_000_000_000)]


class JudgingRunCreate(Strict):
    ai_judge_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scope: JudgingRunScope = "all"
    max_cost: MaxCost | None = None


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


# --- review, export and calibration ----------------------------------------------------

HumanJudgeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^/]+$")
]
Seed = Annotated[int, Field(ge=0, le=2**53)]


class HumanJudgmentPut(Strict):
    """``PUT …/candidates/{candidate_id}/judgments/{judge}``: a human judge's grade."""

    grade: int = Field(ge=-INT32_MAX, le=INT32_MAX)
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


class JudgmentSample(BaseModel):
    """Judgments drawn at random; the same ``seed`` draws the same ones again."""

    seed: int
    items: list[Judgment]


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


class EstimateRequest(Strict):
    ai_judge_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scope: JudgingRunScope = "all"


class Estimate(BaseModel):
    """What a judging run would send, counted without calling the provider."""

    evaluation_run_id: EvaluationRunId
    ai_judge_id: AiJudgeId
    ai_judge_name: str
    model: str
    scope: JudgingRunScope
    queries: int
    candidates: int
    batch_size: int
    batches: int
    estimated_input_tokens: int
    input_token_method: str
    expected_output_tokens: int
    output_token_method: str
    extrapolated: bool
    rendered_batches: int
    rendered_candidates: int
    template_failures: int
    input_price_per_mtok: float | None
    output_price_per_mtok: float | None
    cost: Cost | None
    """The judge's own delivery, no prompt cache assumed."""
    delivery: Delivery = "live"
    cached_input_price_per_mtok: float | None = None
    batch_price_factor: float = 0.5
    cacheable_prefix_tokens: int = 0
    """Tokens (characters/4) of the template's text before its first variable: the part
    every prompt starts with, cached by the provider when it is at least 1,024 tokens."""
    estimated_cached_input_tokens: int = 0
    """Input tokens a prompt cache would serve: the cacheable prefix of every batch after
    the first (0 when the prefix is too short to be cached)."""
    costs: DeliveryCosts | None = None
    """Live and batch delivery, without and with the prompt cache, side by side."""


class DeliveryCosts(BaseModel):
    """One run's cost four ways: each delivery, without and with prompt caching."""

    live: Cost
    live_cached: Cost
    batch: Cost
    batch_cached: Cost


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
