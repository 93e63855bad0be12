"""How the provider simulator behaves: latency, rate limits, injected faults, auth."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Models whose name starts with this prefix answer 404 "model not found".
MISSING_MODEL_PREFIX = "missing-"

_Rate = Field(0.0, ge=0.0, le=1.0)


class SimConfig(BaseModel):
    """Settings of one simulator instance.

    Latency of an accepted call, in milliseconds:

    * ``latency_p99_ms`` unset: ``latency_ms`` exactly (a fixed delay);
    * ``latency_p99_ms`` set: a lognormal draw whose median is ``latency_ms`` and whose
      99th percentile is ``latency_p99_ms`` — a long right tail like real providers';

    then ``latency_jitter_ms`` adds a uniform offset in ``[-jitter, +jitter]``; the result is
    clamped at 0.

    Rate limits use a sliding 60-second window over accepted calls. Tokens are the call's
    estimated input plus output tokens (known up front: grading is deterministic). A call
    that alone exceeds ``tokens_per_minute`` is admitted when the window is empty, so that a
    client is never stuck retrying forever. Rejected calls answer 429 with ``Retry-After``
    (whole seconds, at least 1) and do not count against the window.

    The ``error_rate_*`` are probabilities per accepted call of one injected fault each; one
    uniform draw picks at most one fault, so their sum must not exceed 1. With ``seed`` set
    the draws are reproducible for a given order of arrival (concurrent calls may arrive in
    any order).

    Models whose name starts with one of ``reasoning_model_prefixes`` follow the OpenAI
    reasoning-model rules (no ``max_tokens``, ``temperature`` only 1, ``reasoning_effort``
    accepted); ``legacy_max_tokens`` makes the OpenAI routes an older server that does not
    know ``max_completion_tokens``.

    Batches (OpenAI Batch API, Anthropic Message Batches) advance with the clock, read at
    each request: their requests complete evenly over ``batch_completion_s``; a batch that
    is not done after ``batch_expiry_s`` expires with its remaining requests; a cancel takes
    ``batch_cancel_s``. ``batch_request_error_every`` = N errors every Nth request of a batch
    (1-based, in input order), deterministically.

    Judges that cannot be trusted (:mod:`~releval_judge.sim.behaviour`): ``position_bias``
    grades are added to the first document of each prompt (capped at the scale's top);
    ``waver_rate`` is the probability per candidate per call that its grade moves one step
    at random (drawn from a source of its own, seeded from ``seed``, so that wavering does
    not shift which calls get faults). Both apply to every model, or only to those in
    ``behaviour_models`` when it is not empty: one simulator then serves a steady judge
    and an untrustworthy one side by side.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(200.0, ge=0.0, description="Fixed delay, or median with a tail.")
    latency_jitter_ms: float = Field(0.0, ge=0.0, description="Uniform ± offset on the delay.")
    latency_p99_ms: float | None = Field(
        None, gt=0.0, description="99th percentile of a lognormal delay; unset: no tail."
    )

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)

    error_rate_503: float = _Rate
    error_rate_timeout: float = _Rate
    error_rate_malformed: float = _Rate
    error_rate_fewer: float = _Rate
    error_rate_400: float = _Rate
    timeout_delay_s: float = Field(
        600.0,
        gt=0.0,
        description="How long a 'timeout' call stalls before answering (or until shutdown).",
    )

    seed: int | None = None
    api_key: str | None = Field(None, min_length=1)
    model_not_found: frozenset[str] = Field(
        default_factory=frozenset,
        description=f"Models that answer 404, besides any named '{MISSING_MODEL_PREFIX}…'.",
    )

    reasoning_model_prefixes: tuple[str, ...] = Field(
        ("o1", "o3", "o4", "gpt-5"),
        description="Models (OpenAI routes) under the reasoning-model parameter rules.",
    )
    legacy_max_tokens: bool = Field(
        False, description="OpenAI routes refuse max_completion_tokens, as older servers do."
    )
    prompt_cache_entries: int = Field(
        100_000, ge=1, description="Prefix hashes remembered for prompt caching (LRU)."
    )

    batch_max_requests: int = Field(
        50_000, ge=1, description="Most lines in an OpenAI batch input file."
    )
    batch_completion_s: float = Field(
        2.0, ge=0.0, description="Time from creation until a batch has run every request."
    )
    batch_expiry_s: float = Field(
        86_400.0, gt=0.0, description="A batch not done this long after creation expires."
    )
    batch_cancel_s: float = Field(
        0.2, ge=0.0, description="How long a batch stays cancelling/canceling."
    )
    batch_request_error_every: int | None = Field(
        None, ge=1, description="Every Nth request of a batch fails with a provider error."
    )

    position_bias: int = Field(
        0, ge=0, le=100, description="Grades added to the first document of each prompt."
    )
    waver_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Probability per candidate per call of a grade ±1."
    )
    behaviour_models: frozenset[str] = Field(
        default_factory=frozenset,
        description="Models that get position_bias and waver_rate; empty: every model.",
    )

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        total = (
            self.error_rate_503
            + self.error_rate_timeout
            + self.error_rate_malformed
            + self.error_rate_fewer
            + self.error_rate_400
        )
        if total > 1.0 + 1e-9:
            raise ValueError(f"the error rates add up to {total:g}; at most 1 is possible")
        if self.latency_p99_ms is not None and self.latency_ms <= 0:
            raise ValueError("latency_p99_ms needs a positive latency_ms (the median)")
        if self.latency_p99_ms is not None and self.latency_p99_ms < self.latency_ms:
            raise ValueError(
                f"latency_p99_ms ({self.latency_p99_ms:g}) must be at least "
                f"latency_ms ({self.latency_ms:g}), the median"
            )
        return self

    def model_missing(self, model: str) -> bool:
        return model.startswith(MISSING_MODEL_PREFIX) or model in self.model_not_found

    def is_reasoning_model(self, model: str) -> bool:
        return model.startswith(self.reasoning_model_prefixes)
