"""Provider batch delivery: a judging run's requests sent through the providers' batch APIs
(OpenAI files + batches, Anthropic message batches) instead of one live call each."""

from __future__ import annotations

import aiohttp

from releval_judge.providers.anthropic import AnthropicProvider
from releval_judge.providers.base import WireProvider
from releval_judge.providers.batches.anthropic import AnthropicBatches
from releval_judge.providers.batches.base import (
    BatchClient,
    BatchFile,
    BatchLimits,
    BatchRequest,
    BatchResult,
    BatchStatus,
)
from releval_judge.providers.batches.openai import OpenAIBatches
from releval_judge.providers.config import ProviderName
from releval_judge.providers.openai import OpenAIProvider


def batch_delivery_problem(provider: ProviderName, base_url: str | None) -> str | None:
    """Why a judge with this provider and base URL cannot use `delivery: "batch"`, or None.

    OpenAI's batch API lives beside its chat completions at `{base_url}/files` and
    `{base_url}/batches`, so the base URL must be an API root ending in `/v1` (OpenAI,
    Azure OpenAI's v1 API, a compatible server that implements it); Azure's classic
    deployment URLs have no batch API at that place. Anthropic's is at
    `{base_url}/v1/messages/batches` for any base URL.
    """
    if provider == "openai" and base_url is not None:
        path = base_url.split("?", 1)[0].rstrip("/")
        if not path.endswith("/v1"):
            return (
                "delivery 'batch' needs an OpenAI base_url that ends in /v1 (the batch API "
                "is at {base_url}/files and {base_url}/batches); Azure OpenAI: use its v1 "
                "API, https://{resource}.openai.azure.com/openai/v1"
            )
    return None


def make_batch_client(provider: WireProvider, session: aiohttp.ClientSession) -> BatchClient:
    """The batch API beside `provider`'s live endpoint (same key, same base URL)."""
    if isinstance(provider, AnthropicProvider):
        return AnthropicBatches(provider, session)
    if isinstance(provider, OpenAIProvider):
        return OpenAIBatches(provider, session)
    raise TypeError(f"no batch API for {type(provider).__name__}")


__all__ = [
    "BatchClient",
    "BatchFile",
    "BatchLimits",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "batch_delivery_problem",
    "make_batch_client",
]
