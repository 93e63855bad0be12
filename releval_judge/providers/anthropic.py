"""Anthropic messages API.

Prompt caching is explicit there: when the prompt's stable prefix (the template's text
before its first variable) is long enough to be cached, it goes as its own content block
marked ``cache_control: {"type": "ephemeral"}``, and the rest of the prompt as a second
block. Usage counts input three ways (uncached ``input_tokens``, ``cache_creation_input_tokens``
and ``cache_read_input_tokens``); a `Completion`'s input tokens are their sum and its cached
input tokens the cache reads (cache writes are priced as input).
"""

from __future__ import annotations

from typing import Final

import aiohttp
from pydantic import BaseModel

from releval_judge.providers.base import Completion, Prompt
from releval_judge.providers.config import ProviderConfig
from releval_judge.providers.http import parse_body, post_json

ANTHROPIC_VERSION = "2023-06-01"
# The messages API requires max_tokens; this leaves room for long batches of reasoning.
DEFAULT_MAX_TOKENS = 4096
CACHE_MIN_TOKENS: Final = 1024
"""A prefix shorter than this is not worth a cache block (the models' minimum)."""
CHARS_PER_TOKEN: Final = 4
"""No tokenizer at hand: about four characters a token."""


class _ContentBlock(BaseModel):
    type: str
    text: str | None = None


class _Usage(BaseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _MessagesResponse(BaseModel):
    content: list[_ContentBlock]
    usage: _Usage | None = None


def cacheable(prompt: Prompt) -> bool:
    """True when the stable prefix is long enough to be cached and is not the whole prompt."""
    return (
        prompt.stable_prefix_chars >= CACHE_MIN_TOKENS * CHARS_PER_TOKEN
        and prompt.stable_prefix_chars < len(prompt.text)
    )


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
        self.config = config
        self._session = session
        self._url = config.endpoint("/v1/messages")
        self.headers = {"anthropic-version": ANTHROPIC_VERSION}
        key = config.api_key_value
        if key:
            self.headers["x-api-key"] = key

    def request_body(self, prompt: Prompt) -> dict[str, object]:
        """The messages request for `prompt`, its stable prefix a cached block when long
        enough."""
        config = self.config
        content: str | list[dict[str, object]] = prompt.text
        if cacheable(prompt):
            content = [
                {
                    "type": "text",
                    "text": prompt.stable_prefix,
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": prompt.text[prompt.stable_prefix_chars :]},
            ]
        body: dict[str, object] = {
            "model": config.model,
            "max_tokens": config.max_output_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": content}],
        }
        if config.temperature is not None:
            body["temperature"] = config.temperature
        return body

    def parse_completion(self, data: object) -> Completion:
        """The completion in a messages answer's body."""
        reply = parse_body(_MessagesResponse, data)
        usage = reply.usage or _Usage()
        cache_read = usage.cache_read_input_tokens or 0
        return Completion(
            text="".join(block.text or "" for block in reply.content if block.type == "text"),
            input_tokens=(usage.input_tokens or 0)
            + (usage.cache_creation_input_tokens or 0)
            + cache_read,
            output_tokens=usage.output_tokens or 0,
            cached_input_tokens=cache_read,
        )

    async def complete(self, prompt: Prompt) -> Completion:
        data = await post_json(
            self._session,
            self._url,
            payload=self.request_body(prompt),
            headers=self.headers,
            config=self.config,
        )
        return self.parse_completion(data)
