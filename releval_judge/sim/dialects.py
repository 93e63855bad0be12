"""The two wire formats the simulator speaks: OpenAI chat completions (also as Azure
OpenAI serves them), Anthropic messages.

A dialect checks the credentials the way its provider does, reads the request body into a
:class:`CallRequest` (model, prompt text, the parameters the simulator's rules look at),
and shapes answers and errors like the real API, so that the service's provider clients
meet the same bodies and headers as in production.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ErrorKind = Literal["authentication", "not_found", "rate_limit", "overloaded", "invalid_request"]


class SimError(Exception):
    """An error answer, rendered by each dialect in its provider's shape.

    ``code``, ``param`` and ``detail_type`` refine OpenAI's ``error.code``, ``error.param``
    and ``error.type``. ``body``, when given, is sent as it is whatever the dialect: servers
    that are not OpenAI's own answer some errors in their own shape.
    """

    def __init__(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        detail_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind: ErrorKind = kind
        self.message = message
        self.code = code
        self.param = param
        self.detail_type = detail_type
        self.headers: Mapping[str, str] = headers or {}
        self.body = body


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One provider call as the simulator's rules see it.

    The OpenAI parameters are None when not sent (or sent as null). ``cache_prefix`` is,
    for Anthropic, the prompt text up to and including the last block marked
    ``cache_control`` (a prefix of ``prompt``), or None when no block is marked.
    """

    model: str
    prompt: str
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    reasoning_effort: str | None = None
    cache_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer, before each dialect shapes them.

    ``input_tokens`` counts the whole prompt, ``output_tokens`` the visible answer;
    ``reasoning_tokens`` are billed as output on top of it (OpenAI reasoning models);
    ``cached_tokens`` is OpenAI's automatic prefix cache hit; the ``cache_*`` ones are
    Anthropic's explicit caching, part of ``input_tokens``.
    """

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0


class Dialect(Protocol):
    provider: Literal["openai", "anthropic"]

    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        """Raise :class:`SimError` (401) unless the request carries ``api_key``."""

    def parse(
        self, body: bytes, headers: Mapping[str, str], model: str | None = None
    ) -> CallRequest:
        """Raise :class:`SimError` (400) for a body the real API would refuse.

        ``model``, when given, is the Azure deployment named in the path: it takes the place
        of the body's ``model``."""

    def answer_body(self, call_id: int, model: str, text: str, usage: Usage) -> dict[str, Any]: ...

    def error_body(self, error: SimError) -> dict[str, Any]: ...


class _TextPart(BaseModel):
    type: str
    text: str = ""


def _text(content: str | list[_TextPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text")


def _invalid_body(exc: ValidationError) -> SimError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = f"{where}: {first['msg']}" if where else first["msg"]
    return SimError(400, "invalid_request", message)


def _key_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class _OpenAIMessage(BaseModel):
    role: str
    content: str | list[_TextPart] | None = None


class _OpenAIRequest(BaseModel):
    model: str | None = None
    messages: list[_OpenAIMessage] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    reasoning_effort: str | None = None


OpenAIAuth = Literal["openai", "azure", "azure-v1"]

_AZURE_MISSING_KEY = (
    "Access denied due to missing subscription key. Make sure to include subscription key "
    "when making requests to an API."
)
_AZURE_WRONG_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource."
)


class OpenAIDialect:
    """Chat completions. The key comes as ``Authorization: Bearer <key>`` (``auth="openai"``),
    as an ``api-key`` header (``"azure"``, the deployment routes) or either (``"azure-v1"``,
    Azure's ``/openai/v1`` routes)."""

    provider: Literal["openai", "anthropic"] = "openai"

    def __init__(self, auth: OpenAIAuth = "openai") -> None:
        self.auth: OpenAIAuth = auth

    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        if api_key is None:
            return
        if self.auth != "openai":
            self._check_azure_auth(headers, api_key)
            return
        given = _bearer(headers)
        if given is None:
            raise SimError(
                401,
                "authentication",
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not _key_matches(given, api_key):
            raise SimError(
                401, "authentication", "Incorrect API key provided.", code="invalid_api_key"
            )

    def _check_azure_auth(self, headers: Mapping[str, str], api_key: str) -> None:
        given = headers.get("api-key", "").strip() or None
        if given is None and self.auth == "azure-v1":
            given = _bearer(headers)
        if given is None:
            raise SimError(401, "authentication", _AZURE_MISSING_KEY, code="401")
        if not _key_matches(given, api_key):
            raise SimError(401, "authentication", _AZURE_WRONG_KEY, code="401")

    def parse(
        self, body: bytes, headers: Mapping[str, str], model: str | None = None
    ) -> CallRequest:
        try:
            request = _OpenAIRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid_body(exc) from exc
        model = model or request.model
        if not model:
            raise SimError(400, "invalid_request", "you must provide a model parameter")
        return CallRequest(
            model=model,
            prompt="\n".join(_text(m.content) for m in request.messages),
            max_tokens=request.max_tokens,
            max_completion_tokens=request.max_completion_tokens,
            temperature=request.temperature,
            reasoning_effort=request.reasoning_effort,
        )

    def answer_body(self, call_id: int, model: str, text: str, usage: Usage) -> dict[str, Any]:
        completion_tokens = usage.output_tokens + usage.reasoning_tokens
        return {
            "id": f"chatcmpl-sim-{call_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": usage.input_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            },
        }

    def error_body(self, error: SimError) -> dict[str, Any]:
        if error.body is not None:
            return error.body
        error_type = error.detail_type or (
            "server_error" if error.status >= 500 else "invalid_request_error"
        )
        return {
            "error": {
                "message": error.message,
                "type": error_type,
                "param": error.param,
                "code": error.code,
            }
        }


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


class _Block(BaseModel):
    """A content block; only text blocks carry prompt text."""

    type: str
    text: str = ""
    cache_control: dict[str, Any] | None = None


class _AnthropicMessage(BaseModel):
    role: str
    content: str | list[_Block]


class _AnthropicRequest(BaseModel):
    """The Messages API's fields; like the real API, any other one is refused."""

    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[_AnthropicMessage] = Field(min_length=1)
    system: str | list[_Block] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    metadata: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    thinking: Any = None
    service_tier: str | None = None
    container: Any = None
    mcp_servers: list[Any] | None = None


def _segments(request: _AnthropicRequest) -> list[tuple[str, bool]]:
    """The prompt's texts in order (system, then messages), each with whether its block is
    marked ``cache_control``."""
    sources: list[str | list[_Block] | None] = [request.system]
    sources += [m.content for m in request.messages]
    segments: list[tuple[str, bool]] = []
    for source in sources:
        if isinstance(source, str):
            segments.append((source, False))
        elif source is not None:
            segments += [(b.text, b.cache_control is not None) for b in source if b.type == "text"]
    return [(text, marked) for text, marked in segments if text]


_ANTHROPIC_ERROR_TYPES: dict[ErrorKind, str] = {
    "authentication": "authentication_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "invalid_request": "invalid_request_error",
}


class AnthropicDialect:
    """``POST /v1/messages``; the key comes as ``x-api-key``, and like the real API the
    ``anthropic-version`` header and ``max_tokens`` are required."""

    provider: Literal["openai", "anthropic"] = "anthropic"

    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        if api_key is None:
            return
        given = headers.get("x-api-key", "")
        if not given:
            raise SimError(401, "authentication", "x-api-key header is required")
        if not _key_matches(given, api_key):
            raise SimError(401, "authentication", "invalid x-api-key")

    def parse(
        self, body: bytes, headers: Mapping[str, str], model: str | None = None
    ) -> CallRequest:
        if not headers.get("anthropic-version"):
            raise SimError(400, "invalid_request", "anthropic-version: header is required")
        try:
            request = _AnthropicRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid_body(exc) from exc
        segments = _segments(request)
        marked = [i for i, (_, is_marked) in enumerate(segments) if is_marked]
        texts = [text for text, _ in segments]
        return CallRequest(
            model=request.model,
            prompt="\n".join(texts),
            cache_prefix="\n".join(texts[: marked[-1] + 1]) if marked else None,
        )

    def answer_body(self, call_id: int, model: str, text: str, usage: Usage) -> dict[str, Any]:
        cached = usage.cache_creation_tokens + usage.cache_read_tokens
        return {
            "id": f"msg_sim_{call_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                # Anthropic's input_tokens leaves out the tokens read from or written to the cache.
                "input_tokens": max(0, usage.input_tokens - cached),
                "cache_creation_input_tokens": usage.cache_creation_tokens,
                "cache_read_input_tokens": usage.cache_read_tokens,
                "output_tokens": usage.output_tokens,
            },
        }

    def error_body(self, error: SimError) -> dict[str, Any]:
        if error.body is not None:
            return error.body
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPES[error.kind], "message": error.message},
        }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticated(handler: Handler, dialect: Dialect, api_key: str | None) -> Handler:
    """`handler` behind the credentials check, as on the live routes, with every
    :class:`SimError` it raises answered in the dialect's shape."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            dialect.check_auth(request.headers, api_key)
            return await handler(request)
        except SimError as error:
            return web.json_response(dialect.error_body(error), status=error.status)

    return guarded
