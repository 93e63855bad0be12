"""The two wire formats the simulator speaks: OpenAI chat completions, Anthropic messages.

A dialect checks the credentials the way its provider does, reads the request body into
(model, prompt text), and shapes answers and errors like the real API, so that the
service's provider clients meet the same bodies and headers as in production.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

ErrorKind = Literal["authentication", "not_found", "rate_limit", "overloaded", "invalid_request"]


class SimError(Exception):
    """An error answer, rendered by each dialect in its provider's shape.

    ``code`` and ``detail_type`` refine OpenAI's ``error.code`` and ``error.type``.
    """

    def __init__(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        *,
        code: str | None = None,
        detail_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind: ErrorKind = kind
        self.message = message
        self.code = code
        self.detail_type = detail_type
        self.headers: Mapping[str, str] = headers or {}


@dataclass(frozen=True, slots=True)
class CallRequest:
    model: str
    prompt: str


class Dialect(Protocol):
    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        """Raise :class:`SimError` (401) unless the request carries ``api_key``."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> CallRequest:
        """Raise :class:`SimError` (400) for a body the real API would refuse."""

    def answer_body(
        self, call_id: int, model: str, text: str, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]: ...

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
    model: str
    messages: list[_OpenAIMessage] = Field(min_length=1)


class OpenAIDialect:
    """``POST /v1/chat/completions``; the key comes as ``Authorization: Bearer <key>``."""

    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        if api_key is None:
            return
        scheme, _, given = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise SimError(
                401,
                "authentication",
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not _key_matches(given.strip(), api_key):
            raise SimError(
                401, "authentication", "Incorrect API key provided.", code="invalid_api_key"
            )

    def parse(self, body: bytes, headers: Mapping[str, str]) -> CallRequest:
        try:
            request = _OpenAIRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid_body(exc) from exc
        prompt = "\n".join(_text(m.content) for m in request.messages)
        return CallRequest(model=request.model, prompt=prompt)

    def answer_body(
        self, call_id: int, model: str, text: str, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
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
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }

    def error_body(self, error: SimError) -> dict[str, Any]:
        error_type = error.detail_type or (
            "server_error" if error.status >= 500 else "invalid_request_error"
        )
        return {
            "error": {
                "message": error.message,
                "type": error_type,
                "param": None,
                "code": error.code,
            }
        }


class _AnthropicMessage(BaseModel):
    role: str
    content: str | list[_TextPart]


class _AnthropicRequest(BaseModel):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[_AnthropicMessage] = Field(min_length=1)
    system: str | list[_TextPart] | None = None


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

    def check_auth(self, headers: Mapping[str, str], api_key: str | None) -> None:
        if api_key is None:
            return
        given = headers.get("x-api-key", "")
        if not given:
            raise SimError(401, "authentication", "x-api-key header is required")
        if not _key_matches(given, api_key):
            raise SimError(401, "authentication", "invalid x-api-key")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> CallRequest:
        if not headers.get("anthropic-version"):
            raise SimError(400, "invalid_request", "anthropic-version: header is required")
        try:
            request = _AnthropicRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid_body(exc) from exc
        parts = [_text(request.system), *(_text(m.content) for m in request.messages)]
        return CallRequest(model=request.model, prompt="\n".join(p for p in parts if p))

    def answer_body(
        self, call_id: int, model: str, text: str, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": f"msg_sim_{call_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def error_body(self, error: SimError) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPES[error.kind], "message": error.message},
        }
