"""LLM providers behind one protocol, their error classification and the retry policy."""

from __future__ import annotations

import aiohttp

from releval_judge.providers.anthropic import AnthropicProvider
from releval_judge.providers.base import Completion, Prompt, Provider, WireProvider
from releval_judge.providers.config import DEFAULT_BASE_URLS, ProviderConfig, ProviderName
from releval_judge.providers.errors import (
    AnswerTooLarge,
    AuthenticationFailed,
    BadRequest,
    EndpointNotFound,
    ModelNotFound,
    OutboundRefused,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Redirected,
    TransientProviderError,
    UnsupportedParameter,
    classify_response,
    parse_retry_after,
)
from releval_judge.providers.openai import OpenAIProvider
from releval_judge.providers.retry import (
    CallCancelled,
    RetriesExhausted,
    backoff_delay,
    call_with_retries,
)

__all__ = [
    "DEFAULT_BASE_URLS",
    "AnswerTooLarge",
    "AnthropicProvider",
    "AuthenticationFailed",
    "BadRequest",
    "CallCancelled",
    "Completion",
    "EndpointNotFound",
    "ModelNotFound",
    "OpenAIProvider",
    "OutboundRefused",
    "Prompt",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderName",
    "QuotaExceeded",
    "RateLimited",
    "Redirected",
    "RetriesExhausted",
    "TransientProviderError",
    "UnsupportedParameter",
    "WireProvider",
    "backoff_delay",
    "call_with_retries",
    "classify_response",
    "make_provider",
    "parse_retry_after",
]


def make_provider(config: ProviderConfig, session: aiohttp.ClientSession) -> WireProvider:
    """The provider for `config.provider`, sending its requests through `session`."""
    if config.provider == "anthropic":
        return AnthropicProvider(config, session)
    return OpenAIProvider(config, session)
