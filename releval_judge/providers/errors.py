"""What a provider call can fail with, and how a provider's answer is classified.

Every provider answer other than a usable completion becomes one `ProviderError` subclass
here, at the boundary, so the retry policy and the engine never look at HTTP statuses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

from pydantic import ValidationError

# Long enough to show an HTML error page's gist, short enough for a failure row.
_BODY_EXCERPT_CHARS = 300
_REDACTED = "[redacted]"


class ProviderError(Exception):
    """A provider call failed. `message` is meant for the user and never holds the API key."""

    is_fatal_for_run: ClassVar[bool] = False
    """True when every later call of the run would fail the same way."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AuthenticationFailed(ProviderError):
    """401/403: the key is wrong, revoked or lacks access."""

    is_fatal_for_run = True


class ModelNotFound(ProviderError):
    """404: the model does not exist at this base URL (or the base URL is wrong)."""

    is_fatal_for_run = True


class EndpointNotFound(ProviderError):
    """404 from a URL where the provider's API is not: the 404 does not name a model (a
    web server's or a router's "Not Found"), so the base_url is wrong, most often without
    its path (`/v1`). Every call would go to the same URL: fatal for the run."""

    is_fatal_for_run = True


class QuotaExceeded(ProviderError):
    """429 `insufficient_quota`: billing, not load. Waiting would never end, so it is fatal."""

    is_fatal_for_run = True


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

    is_fatal_for_run = True

    def __init__(self, message: str, *, parameter: str, status: int | None = 400) -> None:
        super().__init__(message, status=status)
        self.parameter = parameter


class OutboundRefused(ProviderError):
    """The outbound policy refused every address of the host (providers/outbound.py):
    the judge's base_url (or a URL the provider named) is not for this service to reach."""

    is_fatal_for_run = True

    def __init__(self, message: str, *, host: str, address: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


class Redirected(ProviderError):
    """A 3xx answer: redirects are never followed (a provider moved, or a base_url that
    is not the API's, or an answer aimed at another address), so every call fails alike."""

    is_fatal_for_run = True


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
    url: str | None = None,
    provider: str | None = None,
) -> ProviderError:
    """Map a provider answer that is not a usable completion to the matching error.

    The message quotes the provider's own error message (OpenAI, Anthropic, vLLM shapes)
    or else an excerpt of the body, with `api_key` scrubbed. A 2xx status here means the
    body was an error object, which is treated as transient. `now` is the reference time
    for an HTTP-date `Retry-After` (default: the current time). With `url` (the URL a
    completion was asked of), a 404 that names no model is `EndpointNotFound`, whose
    message names `url` and what `provider`'s base_url looks like.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    detail = scrub(_provider_message(text), api_key)

    if status in (401, 403):
        return AuthenticationFailed(
            f"authentication failed (HTTP {status}): {detail}", status=status
        )
    if status == 404 and url is not None and subject is None and not _names_a_model(text, model):
        return endpoint_not_found(url, detail, provider)
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


# What a base_url looks like, by provider, for an error about a URL where no API answered.
_BASE_URL_HINTS = {
    "openai": "the judge's base_url likely lacks its path: an OpenAI-compatible base_url "
    "ends where /chat/completions is appended, usually in /v1 (https://api.openai.com/v1, "
    "http://localhost:11434/v1)",
    "anthropic": "the judge's base_url is likely wrong: an Anthropic base_url is the host "
    "without /v1 (https://api.anthropic.com), to which /v1/messages is appended",
}
# How a 404 says that the model (or an Azure deployment of it) is what is missing.
_MODEL_MISSING_CODES = frozenset({"model_not_found", "DeploymentNotFound"})
_MODEL_WORDS = re.compile(r"\b(model|deployment)s?\b", re.IGNORECASE)


def endpoint_not_found(url: str, detail: str, provider: str | None) -> EndpointNotFound:
    """The error for a 404 from a URL where no API answered (see `EndpointNotFound`)."""
    hint = _BASE_URL_HINTS.get(provider or "openai", _BASE_URL_HINTS["openai"])
    return EndpointNotFound(f"no API at {url}: it answered HTTP 404 ({detail}); {hint}", status=404)


def _names_a_model(text: str, model: str | None) -> bool:
    """True when a 404 body says a model (or a deployment) is missing: an error code that
    says so, the model's name, or the word "model" in the provider's message. A router's
    bare "Not Found" (plain text, HTML, `{"detail": "Not Found"}`) says none of these."""
    if _error_code(text) in _MODEL_MISSING_CODES:
        return True
    message = _provider_message(text)
    if _MODEL_WORDS.search(message):
        return True
    # The name as a word of its own: a short one ("m") is in any text.
    return (
        bool(model)
        and re.search(rf"(?<![\w.-]){re.escape(model or '')}(?![\w.-])", message) is not None
    )


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
