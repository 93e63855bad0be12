"""What a judging run calls its provider through: the judge's settings with its API key,
and, for live calls, the governors every attempt passes (adaptive limit, shared pacing,
the key's concurrency budget; see ``engine.calls``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from releval_judge.engine.calls import GovernedProvider
from releval_judge.engine.errors import RunFailed
from releval_judge.engine.key_slots import KeySlotPool, KeySlots
from releval_judge.engine.pacing import AdaptiveLimit, Pacer, RatePacer
from releval_judge.engine.shared_pacing import SharedRatePacer, key_id
from releval_judge.models import JudgeConfig
from releval_judge.providers import Provider, ProviderConfig
from releval_judge.secrets import SecretBox
from releval_judge.store.rate_budgets import RateBudgetStore
from releval_judge.telemetry import Metrics

ProviderFactory = Callable[[ProviderConfig, aiohttp.ClientSession], Provider]


def provider_config(
    config: JudgeConfig, secrets: SecretBox, *, max_answer_bytes: int
) -> ProviderConfig:
    """The judge's provider settings with its API key decrypted (or read from the env);
    answers are read up to `max_answer_bytes` (RELEVAL_MAX_ANSWER_BYTES). Raises
    `RunFailed` when the key cannot be had."""
    key: str | None = None
    try:
        if config.api_key_encrypted is not None:
            key = secrets.decrypt(config.api_key_encrypted)
        elif config.api_key_env:
            key = secrets.env_key(config.api_key_env)
    except ValueError as exc:
        raise RunFailed(str(exc)) from exc
    return ProviderConfig.model_validate(
        {
            "provider": config.provider,
            "model": config.model,
            "base_url": config.base_url,
            "api_key": key,
            "temperature": config.temperature,
            "max_output_tokens": config.max_output_tokens,
            "request_timeout_s": config.request_timeout_s,
            "reasoning_effort": config.reasoning_effort,
            "max_answer_bytes": max_answer_bytes,
        }
    )


def governed_provider(
    config: JudgeConfig,
    wire_config: ProviderConfig,
    *,
    factory: ProviderFactory,
    session: aiohttp.ClientSession,
    halt: asyncio.Event,
    rate_budgets: RateBudgetStore,
    key_slots: KeySlots | None,
    metrics: Metrics,
) -> GovernedProvider:
    """The judge's provider (made by `factory`) behind the run's governors: the judge's
    rate limits and key concurrency are the provider key's, shared with every run and
    replica on it; without them the run adapts to 429s below its concurrency."""
    pacer: Pacer = RatePacer(None, None)
    if config.requests_per_minute is not None or config.tokens_per_minute is not None:
        pacer = SharedRatePacer(
            rate_budgets,
            key_id(wire_config),
            config.requests_per_minute,
            config.tokens_per_minute,
        )
    key_pool: KeySlotPool | None = None
    if config.key_concurrency is not None and key_slots is not None:
        # Calls in flight on the provider key, counted over every run and replica.
        key_pool = key_slots.pool(key_id(wire_config), config.key_concurrency)
    return GovernedProvider(
        factory(wire_config, session),
        provider_name=config.provider,
        halt=halt,
        limit=AdaptiveLimit(config.concurrency, maximum=config.concurrency),
        pacer=pacer,
        metrics=metrics,
        candidates_per_call=config.batch_size,
        max_output_tokens=config.max_output_tokens,
        key_slots=key_pool,
    )
