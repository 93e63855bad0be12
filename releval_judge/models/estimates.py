"""Cost estimates: what a judging run would send and cost, counted without a provider."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from releval_judge.models.base import AiJudgeId, Delivery, EvaluationRunId, Strict
from releval_judge.models.costs import BATCH_PRICE_FACTOR, Cost, DeliveryCosts
from releval_judge.models.judging_runs import JudgingRunScope, ReuseMode


class EstimateRequest(Strict):
    ai_judge_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scope: JudgingRunScope = "all"
    reuse: ReuseMode = "fingerprint"
    """As a judging run's start body: estimate with (the default) or without reuse."""


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
    """Batches to send: those of the candidates not ``reusable``."""
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
    batch_price_factor: float = BATCH_PRICE_FACTOR
    cacheable_prefix_tokens: int = 0
    """Tokens (characters/4) of the template's text before its first variable: the part
    every prompt starts with, cached by the provider when it is at least 1,024 tokens."""
    estimated_cached_input_tokens: int = 0
    """Input tokens a prompt cache would serve: the cacheable prefix of every batch after
    the first (0 when the prefix is too short to be cached)."""
    reuse: ReuseMode = "fingerprint"
    reusable: int = 0
    """Candidates of the scope an earlier judgment answers by fingerprint (none sent, none
    paid for); the batches, tokens and costs cover only the rest."""
    costs: DeliveryCosts | None = None
    """Live and batch delivery, without and with the prompt cache, side by side."""
