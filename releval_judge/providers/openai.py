"""OpenAI-compatible chat completions: OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM.

The request is the one OpenAI documents for current models: the output cap goes as
``max_completion_tokens`` (reasoning models refuse ``max_tokens``), ``temperature`` and
``reasoning_effort`` only when the judge sets them. Servers that only know ``max_tokens``
(older vLLM or Ollama builds, some gateways, old Azure api-versions) answer the first call
with a 400 naming ``max_completion_tokens``; that call is sent again once with
``max_tokens``, and the provider remembers it for the rest of the run.

Azure OpenAI (see ``ProviderConfig.is_azure``) takes the key in an ``api-key`` header, at
its classic deployment URLs (``…/openai/deployments/{deployment}?api-version=…`` as the
base URL) or its v1 API (``…/openai/v1``).
"""

from __future__ import annotations

from typing import Literal

import aiohttp
import structlog
from pydantic import BaseModel, Field

from releval_judge.providers.base import Completion, Prompt
from releval_judge.providers.config import ProviderConfig
from releval_judge.providers.errors import UnsupportedParameter
from releval_judge.providers.http import parse_body, post_json

log = structlog.get_logger(__name__)

OutputCap = Literal["max_completion_tokens", "max_tokens"]


class _Message(BaseModel):
    role: str = "user"
    # null when the model refused or called a tool; the judge then simply has no blocks.
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _PromptTokensDetails(BaseModel):
    cached_tokens: int | None = None


class _Usage(BaseModel):
    # Some compatible servers send nulls rather than omitting the field.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptTokensDetails | None = None


class _ChatResponse(BaseModel):
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


class OpenAIProvider:
    """Sends each prompt as one user message to `{base_url}/chat/completions`.

    The key goes as `Authorization: Bearer` (as `api-key` for Azure), and only when the
    config has one, so local servers that need none (Ollama, vLLM) work. Errors follow
    `classify_response`.
    """

    def __init__(self, config: ProviderConfig, session: aiohttp.ClientSession) -> None:
        if config.provider != "openai":
            raise ValueError(f"OpenAIProvider needs an openai config, got {config.provider!r}")
        self.config = config
        self._session = session
        self._url = config.endpoint("/chat/completions")
        key = config.api_key_value
        if not key:
            self.headers: dict[str, str] = {}
        elif config.is_azure:
            self.headers = {"api-key": key}
        else:
            self.headers = {"Authorization": f"Bearer {key}"}
        self.output_cap: OutputCap = "max_completion_tokens"

    def request_body(self, prompt: Prompt) -> dict[str, object]:
        """The chat completions request for `prompt` (the stable prefix is the start of the
        one message, which is what OpenAI's automatic prefix caching matches)."""
        config = self.config
        body: dict[str, object] = {
            "model": config.model,
            "messages": [{"role": "user", "content": prompt.text}],
        }
        if config.temperature is not None:
            body["temperature"] = config.temperature
        if config.max_output_tokens is not None:
            body[self.output_cap] = config.max_output_tokens
        if config.reasoning_effort is not None:
            body["reasoning_effort"] = config.reasoning_effort
        return body

    def parse_completion(self, data: object) -> Completion:
        """The completion in a chat completions answer's body."""
        reply = parse_body(_ChatResponse, data)
        usage = reply.usage or _Usage()
        details = usage.prompt_tokens_details or _PromptTokensDetails()
        return Completion(
            text=reply.choices[0].message.content or "",
            input_tokens=usage.prompt_tokens or 0,
            output_tokens=usage.completion_tokens or 0,
            cached_input_tokens=details.cached_tokens or 0,
        )

    async def complete(self, prompt: Prompt) -> Completion:
        try:
            data = await self._post(prompt)
        except UnsupportedParameter as exc:
            if exc.parameter != "max_completion_tokens" or self.output_cap == "max_tokens":
                raise
            # An older server: it knows the output cap by its old name only.
            self.output_cap = "max_tokens"
            log.info("output_cap_renamed", parameter="max_tokens", model=self.config.model)
            data = await self._post(prompt)
        return self.parse_completion(data)

    async def _post(self, prompt: Prompt) -> object:
        return await post_json(
            self._session,
            self._url,
            payload=self.request_body(prompt),
            headers=self.headers,
            config=self.config,
        )
