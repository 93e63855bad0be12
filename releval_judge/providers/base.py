"""The provider contract: a prompt, a completion, and the Provider protocol.

The configuration is in `config`, the errors and the classification of answers in
`errors`, the HTTP requests in `http`; the package re-exports what callers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from releval_judge.providers.config import ProviderConfig


@dataclass(frozen=True, slots=True)
class Prompt:
    """One rendered prompt. Its first `stable_prefix_chars` characters are the same in every
    prompt of the judge (the template's text before its first variable): providers send
    them first and, where caching is explicit (Anthropic), mark them cacheable."""

    text: str
    stable_prefix_chars: int = 0

    @property
    def stable_prefix(self) -> str:
        return self.text[: self.stable_prefix_chars]


class Completion(BaseModel):
    """A model's answer to one prompt and the tokens the provider billed for it.

    `input_tokens` counts every input token; `cached_input_tokens` those of them that the
    provider read from its prompt cache (priced apart).
    """

    model_config = ConfigDict(frozen=True)

    text: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0


class Provider(Protocol):
    """Anything that turns a prompt into a `Completion`.

    `complete` raises only `ProviderError` subclasses for provider or network failures
    (and lets `asyncio.CancelledError` through).
    """

    async def complete(self, prompt: Prompt) -> Completion: ...


class WireProvider(Provider, Protocol):
    """A provider whose requests can also be sent another way (a provider batch): the
    body of the live request for a prompt, and the completion in a live answer's body."""

    config: ProviderConfig

    def request_body(self, prompt: Prompt) -> dict[str, object]: ...

    def parse_completion(self, data: object) -> Completion: ...
