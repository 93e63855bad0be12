"""The provider contract: configuration, the Provider protocol, errors, HTTP classification.

Every provider answer other than a usable completion becomes one `ProviderError` subclass
here, at the boundary, so the retry policy and the engine never look at HTTP statuses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from releval_judge.providers.reading import read_capped

M = TypeVar("M", bound=BaseModel)
ProviderName = Literal["openai", "anthropic"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]

DEFAULT_BASE_URLS: Mapping[ProviderName, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}

# Azure OpenAI's hosts; a path under /openai/ (deployments, or the v1 API) on another host,
# such as a gateway or a test server, is taken for Azure's too.
_AZURE_HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)

# Long enough to show an HTML error page's gist, short enough for a failure row.
_BODY_EXCERPT_CHARS = 300
_REDACTED = "[redacted]"


class ProviderConfig(BaseModel):
    """How to reach one model. Immutable; the API key never appears in repr or logs."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    # None: not sent (reasoning models refuse any value but their default).
    temperature: float | None = Field(default=None, ge=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    request_timeout_s: float = Field(default=60, gt=0)
    reasoning_effort: ReasoningEffort | None = None
    # The most bytes read of one answer (RELEVAL_MAX_ANSWER_BYTES), and of one line of a
    # batch result file.
    max_answer_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @property
    def resolved_base_url(self) -> str:
        """`base_url`, or the provider's public API when none is given; no trailing slash."""
        return (self.base_url or DEFAULT_BASE_URLS[self.provider]).rstrip("/")

    def endpoint(self, path: str) -> str:
        """`path` appended to the base URL's path, its query string kept (Azure's classic
        URLs carry `?api-version=…`): `…/deployments/d?api-version=v` + `/chat/completions`
        is `…/deployments/d/chat/completions?api-version=v`. A query string of `path`'s own
        (list pagination) is added to the base URL's."""
        parts = urlsplit(self.resolved_base_url)
        path, _, query = path.partition("?")
        joined = "&".join(q for q in (parts.query, query) if q)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path, query=joined))

    def with_timeout_at_least(self, seconds: float) -> ProviderConfig:
        """The same config with `request_timeout_s` raised to `seconds` (uploads and
        downloads of provider batches take longer than one call)."""
        if self.request_timeout_s >= seconds:
            return self
        return self.model_copy(update={"request_timeout_s": seconds})

    @property
    def is_azure(self) -> bool:
        """Azure OpenAI: its hosts, or a base URL in Azure's path forms
        (`/openai/deployments/{deployment}`, `/openai/v1`)."""
        if self.provider != "openai":
            return False
        parts = urlsplit(self.resolved_base_url)
        path = parts.path.rstrip("/")
        return (
            (parts.hostname or "").endswith(_AZURE_HOST_SUFFIXES)
            or "/openai/deployments/" in path + "/"
            or path.endswith("/openai/v1")
        )

    @property
    def api_key_value(self) -> str | None:
        """The plain API key, or None when absent or empty (local servers need none)."""
        if self.api_key is None:
            return None
        return self.api_key.get_secret_value() or None


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


class ProviderError(Exception):
    """A provider call failed. `message` is meant for the user and never holds the API key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def is_fatal_for_run(self) -> bool:
        """True when every later call of the run would fail the same way."""
        return False


class AuthenticationFailed(ProviderError):
    """401/403: the key is wrong, revoked or lacks access."""

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class ModelNotFound(ProviderError):
    """404: the model does not exist at this base URL (or the base URL is wrong)."""

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class QuotaExceeded(ProviderError):
    """429 `insufficient_quota`: billing, not load. Waiting would never end, so it is fatal."""

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class RateLimited(ProviderError):
    """429: slow down; `retry_after` is the provider's wait in seconds when it gave one."""

    def __init__(
        self,
        message: str = "rate limited (HTTP 429)",
        *,
        retry_after: float | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """5xx, timeout, connection error or an unusable 2xx body: worth retrying."""


class BadRequest(ProviderError):
    """400 and other 4xx: this request cannot succeed (e.g. context too long); others may."""


class UnsupportedParameter(ProviderError):
    """400 saying the model does not accept a parameter or one of its values (reasoning
    models and `temperature` or `max_tokens`, old servers and `max_completion_tokens`).
    It is the judge's configuration, so every call would fail alike: fatal for the run.
    `parameter` names it."""

    def __init__(self, message: str, *, parameter: str, status: int | None = 400) -> None:
        super().__init__(message, status=status)
        self.parameter = parameter

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class OutboundRefused(ProviderError):
    """The outbound policy refused every address of the host (providers/outbound.py):
    the judge's base_url (or a URL the provider named) is not for this service to reach."""

    def __init__(self, message: str, *, host: str, address: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class Redirected(ProviderError):
    """A 3xx answer: redirects are never followed (a provider moved, or a base_url that
    is not the API's, or an answer aimed at another address), so every call fails alike."""

    @property
    def is_fatal_for_run(self) -> bool:
        return True


class AnswerTooLarge(BadRequest):
    """An answer (or a line of a batch result file) over `max_answer_bytes`: nothing more
    of it is read; the request's candidates fail, and the run goes on."""


def redirected(status: int, headers: Mapping[str, str], *, api_key: str | None) -> Redirected:
    """The error for a 3xx answer, naming where it pointed."""
    location = _header(headers, "location")
    target = f"a redirect to {excerpt(location)}" if location else "a redirect without a Location"
    return Redirected(
        scrub(
            f"the provider answered HTTP {status}, {target}; redirects are never followed "
            "(docs/security.md): set the judge's base_url to the address that answers",
            api_key,
        ),
        status=status,
    )


def too_large(limit: int, what: str = "the provider's answer") -> AnswerTooLarge:
    return AnswerTooLarge(
        f"{what} is larger than {limit} bytes, the cap set by RELEVAL_MAX_ANSWER_BYTES; "
        "it was not read"
    )


def classify_response(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    now: datetime | None = None,
    model: str | None = None,
    api_key: str | None = None,
    subject: str | None = None,
) -> ProviderError:
    """Map a provider answer that is not a usable completion to the matching error.

    The message quotes the provider's own error message (OpenAI, Anthropic, vLLM shapes)
    or else an excerpt of the body, with `api_key` scrubbed. A 2xx status here means the
    body was an error object, which is treated as transient. `now` is the reference time
    for an HTTP-date `Retry-After` (default: the current time).
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    detail = scrub(_provider_message(text), api_key)

    if status in (401, 403):
        return AuthenticationFailed(
            f"authentication failed (HTTP {status}): {detail}", status=status
        )
    if status == 404:
        subject = subject or (f"model '{model}'" if model else "model")
        return ModelNotFound(f"{subject} not found (HTTP 404): {detail}", status=status)
    if status == 429:
        if _error_code(text) == "insufficient_quota":
            return QuotaExceeded(f"quota exceeded (HTTP 429): {detail}", status=status)
        retry_after = _retry_after(headers, now or datetime.now(UTC))
        return RateLimited(
            f"rate limited (HTTP 429): {detail}", retry_after=retry_after, status=status
        )
    # 408 and 409 are the statuses the official SDKs retry besides 429 and 5xx.
    if status >= 500 or status in (408, 409):
        return TransientProviderError(f"provider error (HTTP {status}): {detail}", status=status)
    if status in (400, 422):
        parameter = unsupported_parameter(text)
        if parameter is not None:
            return UnsupportedParameter(
                f"the provider does not accept the parameter '{parameter}' (HTTP {status}): "
                f"{detail}{_PARAMETER_HINTS.get(parameter, '')}",
                parameter=parameter,
                status=status,
            )
    if 400 <= status < 500:
        return BadRequest(f"bad request (HTTP {status}): {detail}", status=status)
    if 200 <= status < 300:
        return TransientProviderError(
            f"provider returned an error (HTTP {status}): {detail}", status=status
        )
    return TransientProviderError(f"unexpected HTTP {status}: {detail}", status=status)


# What a judge author can do about each parameter a model refuses.
_PARAMETER_HINTS = {
    "temperature": " (set the judge's temperature to null: it is then not sent, and "
    "reasoning models use their default)",
    "reasoning_effort": " (set the judge's reasoning_effort to null: only reasoning models "
    "take it)",
    "max_tokens": " (reasoning models want max_completion_tokens)",
    "max_completion_tokens": " (an older server: it wants max_tokens)",
}

# How providers and compatible servers say that they do not take a parameter:
# OpenAI ("Unsupported parameter: 'max_tokens' …", "Unsupported value: 'temperature' …"),
# Azure and older servers ("Unrecognized request argument supplied: max_completion_tokens"),
# Anthropic ("reasoning_effort: Extra inputs are not permitted"), pydantic-based servers
# such as vLLM ("…('body', 'max_completion_tokens')…Extra inputs are not permitted") and
# Go servers ('json: unknown field "max_completion_tokens"').
_UNSUPPORTED_PATTERNS = (
    re.compile(r"Unsupported (?:parameter|value): '([\w.\[\]]+)'"),
    re.compile(r"Unrecognized request arguments? supplied: ([\w.]+)"),
    re.compile(r"^([\w.]+): Extra inputs are not permitted"),
    re.compile(r"'body', '([\w.]+)'\).{0,200}?(?:Extra inputs are not permitted|extra_forbidden)"),
    re.compile(r"(?:Extra inputs are not permitted|extra_forbidden).{0,200}?'body', '([\w.]+)'\)"),
    re.compile(r"unknown (?:field|parameter)[: ]+[\"'`]?([\w.]+)", re.IGNORECASE),
)


def unsupported_parameter(body: str) -> str | None:
    """The parameter a 400 body says the model does not accept, or None.

    OpenAI's `error.code` `unsupported_parameter` / `unsupported_value` with `error.param`
    first, then the wordings of other providers and compatible servers.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        if error.get("code") in ("unsupported_parameter", "unsupported_value") and isinstance(
            error.get("param"), str
        ):
            return str(error["param"])
    message = _provider_message(body)
    for pattern in _UNSUPPORTED_PATTERNS:
        match = pattern.search(message) or pattern.search(body)
        if match:
            return match.group(1)
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP date.

    Negative waits (a date in the past) become 0; anything unparseable is None.
    """
    if value is None:
        return None
    value = value.strip()
    seconds = _finite_float(value)
    if seconds is None:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (_as_utc(when) - _as_utc(now)).total_seconds()
    return max(seconds, 0.0)


def scrub(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced, for providers that echo the key."""
    return text.replace(secret, _REDACTED) if secret else text


def excerpt(text: str) -> str:
    """Whitespace-collapsed start of `text`, for messages that quote a body."""
    flat = re.sub(r"\s+", " ", text).strip()
    if not flat:
        return "(empty body)"
    if len(flat) > _BODY_EXCERPT_CHARS:
        return flat[:_BODY_EXCERPT_CHARS] + "…"
    return flat


def is_error_object(data: object) -> bool:
    """True for a decoded JSON body that is an error rather than a completion.

    Proxies (LiteLLM, vLLM, gateways) sometimes send these with a 2xx status.
    """
    if not isinstance(data, dict):
        return False
    return (
        data.get("error") is not None
        or data.get("type") == "error"
        or data.get("object") == "error"
    )


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    payload: Mapping[str, object],
    headers: Mapping[str, str],
    config: ProviderConfig,
) -> object:
    """POST `payload` as JSON and return the decoded body of a successful answer.

    Raises the error `classify_response` assigns to a non-2xx answer or a 2xx error
    object, and `TransientProviderError` for a timeout, a connection error, or a body
    that is not JSON. Never catches `asyncio.CancelledError`.
    """
    return await request_json(session, "POST", url, payload=payload, headers=headers, config=config)


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    config: ProviderConfig,
    payload: Mapping[str, object] | None = None,
    data: object = None,
    subject: str | None = None,
) -> object:
    """Send a request and return the decoded JSON body of a successful answer; errors as
    `post_json`. `payload` goes as JSON, `data` as any body aiohttp sends (a form, a file);
    `subject` names what a 404 did not find (default: the model)."""
    api_key = config.api_key_value
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
    limit = config.max_answer_bytes
    try:
        async with session.request(
            method,
            url,
            json=payload,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            status = response.status
            response_headers = response.headers
            if 300 <= status < 400:
                raise redirected(status, response_headers, api_key=api_key)
            # An error's body is only quoted: its start is enough.
            ok = 200 <= status < 300
            body = await read_capped(response, limit, truncate=not ok)
            if body is None:
                raise too_large(limit)
    except TimeoutError as exc:
        raise TransientProviderError(f"timed out after {config.request_timeout_s:g}s") from exc
    except aiohttp.ClientError as exc:
        reason = str(exc) or type(exc).__name__
        raise TransientProviderError(scrub(f"connection error: {reason}", api_key)) from exc

    model = None if subject is not None else config.model
    if not 200 <= status < 300:
        raise classify_response(
            status, body, response_headers, model=model, api_key=api_key, subject=subject
        )
    try:
        decoded: object = json.loads(body)
    except ValueError as exc:  # also UnicodeDecodeError
        text = body.decode("utf-8", errors="replace")
        raise TransientProviderError(
            scrub(f"malformed response body (HTTP {status}): {excerpt(text)}", api_key),
            status=status,
        ) from exc
    if is_error_object(decoded):
        raise classify_response(
            status, body, response_headers, model=model, api_key=api_key, subject=subject
        )
    return decoded


def parse_body(model: type[M], data: object) -> M:
    """A 2xx JSON body read as `model`; a body of another shape is `unexpected_body`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unexpected_body(exc) from exc


def unexpected_body(exc: ValidationError) -> TransientProviderError:
    """The error for a 2xx JSON body of the wrong shape; names the first mismatch only,
    without quoting the body."""
    error = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "body"
    return TransientProviderError(f"unexpected response body: {location}: {error['msg']}")


def _provider_message(text: str) -> str:
    """The provider's own error message from a body, or an excerpt of the body."""
    try:
        data = json.loads(text)
    except ValueError:
        return excerpt(text)
    if isinstance(data, dict):
        error = data.get("error")
        # OpenAI / Anthropic: {"error": {"message": ...}}; Ollama and some proxies: {"error": "..."}
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return excerpt(error["message"])
        if isinstance(error, str):
            return excerpt(error)
        # vLLM: {"object": "error", "message": ...}; FastAPI-style gateways: {"detail": ...}
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return excerpt(data[key])
    return excerpt(text)


def _error_code(text: str) -> str | None:
    """`error.code` (or `error.type`) of an OpenAI-shaped error body, if any."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        for key in ("code", "type"):
            if isinstance(error.get(key), str):
                return str(error[key])
    return None


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    # OpenAI sends the finer-grained retry-after-ms alongside retry-after; prefer it.
    millis = _finite_float(_header(headers, "retry-after-ms"))
    if millis is not None:
        return max(millis / 1000, 0.0)
    return parse_retry_after(_header(headers, "retry-after"), now)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # aiohttp's headers are case-insensitive, a plain dict is not.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _finite_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_utc(moment: datetime) -> datetime:
    # parsedate_to_datetime returns a naive datetime for "-0000"; HTTP dates are GMT.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
