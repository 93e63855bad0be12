"""OpenAI-compatible chat completions: OpenAI, Azure-style v1 URLs, vLLM, Ollama, LiteLLM."""

from __future__ import annotations

import aiohttp
from pydantic import BaseModel, Field, ValidationError

from releval_judge.providers.base import (
    Completion,
    ProviderConfig,
    post_json,
    unexpected_body,
)


class _Message(BaseModel):
    role: str = "user"
    # null when the model refused or called a tool; the judge then simply has no blocks.
    content: str | None = None


class _ChatRequest(BaseModel):
    model: str
    messages: list[_Message]
    temperature: float
    max_tokens: int | None = None


class _Choice(BaseModel):
    message: _Message


class _Usage(BaseModel):
    # Some compatible servers send nulls rather than omitting the field.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _ChatResponse(BaseModel):
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


class OpenAIProvider:
    """Sends each prompt as one user message to `{base_url}/chat/completions`.

    The `Authorization: Bearer` header is sent only when the config has an API key, so
    local servers that need none (Ollama, vLLM) work. Errors follow `classify_response`.
    """

    def __init__(self, config: ProviderConfig, session: aiohttp.ClientSession) -> None:
        if config.provider != "openai":
            raise ValueError(f"OpenAIProvider needs an openai config, got {config.provider!r}")
        self._config = config
        self._session = session
        self._url = f"{config.resolved_base_url}/chat/completions"
        key = config.api_key_value
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def complete(self, prompt: str) -> Completion:
        request = _ChatRequest(
            model=self._config.model,
            messages=[_Message(role="user", content=prompt)],
            temperature=self._config.temperature,
            max_tokens=self._config.max_output_tokens,
        )
        data = await post_json(
            self._session,
            self._url,
            payload=request.model_dump(exclude_none=True),
            headers=self._headers,
            config=self._config,
        )
        try:
            reply = _ChatResponse.model_validate(data)
        except ValidationError as exc:
            raise unexpected_body(exc) from exc
        usage = reply.usage or _Usage()
        return Completion(
            text=reply.choices[0].message.content or "",
            input_tokens=usage.prompt_tokens or 0,
            output_tokens=usage.completion_tokens or 0,
        )
