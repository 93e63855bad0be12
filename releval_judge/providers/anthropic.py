"""Anthropic messages API."""

from __future__ import annotations

import aiohttp
from pydantic import BaseModel, ValidationError

from releval_judge.providers.base import (
    Completion,
    ProviderConfig,
    post_json,
    unexpected_body,
)

ANTHROPIC_VERSION = "2023-06-01"
# The messages API requires max_tokens; this leaves room for long batches of reasoning.
DEFAULT_MAX_TOKENS = 4096


class _Message(BaseModel):
    role: str
    content: str


class _MessagesRequest(BaseModel):
    model: str
    max_tokens: int
    temperature: float
    messages: list[_Message]


class _ContentBlock(BaseModel):
    type: str
    text: str | None = None


class _Usage(BaseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None


class _MessagesResponse(BaseModel):
    content: list[_ContentBlock]
    usage: _Usage | None = None


class AnthropicProvider:
    """Sends each prompt as one user message to `{base_url}/v1/messages`.

    The text is the concatenation of the answer's text blocks (other block types, such
    as thinking, are skipped). 529 "overloaded" is transient like any 5xx.
    """

    def __init__(self, config: ProviderConfig, session: aiohttp.ClientSession) -> None:
        if config.provider != "anthropic":
            raise ValueError(
                f"AnthropicProvider needs an anthropic config, got {config.provider!r}"
            )
        self._config = config
        self._session = session
        self._url = f"{config.resolved_base_url}/v1/messages"
        key = config.api_key_value
        self._headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key:
            self._headers["x-api-key"] = key

    async def complete(self, prompt: str) -> Completion:
        request = _MessagesRequest(
            model=self._config.model,
            max_tokens=self._config.max_output_tokens or DEFAULT_MAX_TOKENS,
            temperature=self._config.temperature,
            messages=[_Message(role="user", content=prompt)],
        )
        data = await post_json(
            self._session,
            self._url,
            payload=request.model_dump(),
            headers=self._headers,
            config=self._config,
        )
        try:
            reply = _MessagesResponse.model_validate(data)
        except ValidationError as exc:
            raise unexpected_body(exc) from exc
        usage = reply.usage or _Usage()
        return Completion(
            text="".join(block.text or "" for block in reply.content if block.type == "text"),
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
        )
