"""Provider HTTP behaviour: request shape, response parsing and error classification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from unittest.mock import Mock

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from releval_judge.providers import (
    AnthropicProvider,
    AuthenticationFailed,
    BadRequest,
    EndpointNotFound,
    ModelNotFound,
    OpenAIProvider,
    Prompt,
    ProviderConfig,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TransientProviderError,
    classify_response,
    make_provider,
    parse_retry_after,
)

KEY = "sk-test-0123456789abcdef"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"


def openai_config(**overrides: Any) -> ProviderConfig:
    return ProviderConfig(**{"provider": "openai", "model": "gpt-x", "api_key": KEY, **overrides})


def anthropic_config(**overrides: Any) -> ProviderConfig:
    return ProviderConfig(
        **{"provider": "anthropic", "model": "claude-x", "api_key": KEY, **overrides}
    )


def openai_error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def anthropic_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


OPENAI_OK = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "<grade>3</grade>"}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135},
}
ANTHROPIC_OK = {
    "type": "message",
    "content": [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "text", "text": "<grade>3</grade>"},
        {"type": "text", "text": "\n<grade>1</grade>"},
    ],
    "usage": {"input_tokens": 200, "output_tokens": 30},
}

# (config factory, endpoint, error body builder) for tests that hold for both providers.
BOTH = [
    pytest.param(openai_config, OPENAI_URL, openai_error, id="openai"),
    pytest.param(anthropic_config, ANTHROPIC_URL, anthropic_error, id="anthropic"),
]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class _Response(aiohttp.ClientResponse):
    """A ClientResponse that aioresponses 0.7.9 can build under aiohttp 3.14.

    aiohttp 3.14 made `stream_writer` a required argument that aioresponses does not pass
    yet (pnuckowski/aioresponses#289); only its `output_size` is read.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


class _MockHTTP(aioresponses):
    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _Response)
        super().add(*args, **kwargs)


@pytest.fixture
def http() -> Iterator[aioresponses]:
    with _MockHTTP() as mock:
        yield mock


def sent(http: aioresponses, url: str) -> dict[str, Any]:
    """The keyword arguments of the single request made to `url`."""
    calls = http.requests[("POST", URL(url))]
    assert len(calls) == 1
    kwargs: dict[str, Any] = calls[0].kwargs
    return kwargs


# --- success -----------------------------------------------------------------------------


async def test_openai_parses_text_and_tokens_and_sends_the_prompt(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    http.post(OPENAI_URL, payload=OPENAI_OK)
    provider = OpenAIProvider(openai_config(max_output_tokens=500, temperature=0.2), session)

    completion = await provider.complete(Prompt("judge these"))

    assert completion.text == "<grade>3</grade>"
    assert (completion.input_tokens, completion.output_tokens) == (120, 15)
    request = sent(http, OPENAI_URL)
    assert request["json"] == {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "judge these"}],
        "temperature": 0.2,
        "max_completion_tokens": 500,
    }
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["timeout"].total == 60


async def test_openai_omits_max_tokens_when_unset_and_counts_missing_usage_as_zero(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    http.post(OPENAI_URL, payload={"choices": [{"message": {"content": "ok"}}]})

    completion = await OpenAIProvider(openai_config(), session).complete(Prompt("p"))

    assert completion.text == "ok"
    assert (completion.input_tokens, completion.output_tokens) == (0, 0)
    assert "max_completion_tokens" not in sent(http, OPENAI_URL)["json"]
    assert "temperature" not in sent(http, OPENAI_URL)["json"]


@pytest.mark.parametrize(
    ("base_url", "endpoint"),
    [
        ("https://x/v1", "https://x/v1/chat/completions"),
        ("https://x/v1/", "https://x/v1/chat/completions"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"),
        (None, OPENAI_URL),
    ],
)
async def test_openai_appends_chat_completions_to_base_url(
    session: aiohttp.ClientSession, http: aioresponses, base_url: str | None, endpoint: str
) -> None:
    http.post(endpoint, payload=OPENAI_OK)

    await OpenAIProvider(openai_config(base_url=base_url), session).complete(Prompt("p"))

    sent(http, endpoint)


@pytest.mark.parametrize("api_key", [None, ""])
async def test_openai_sends_no_authorization_header_without_a_key(
    session: aiohttp.ClientSession, http: aioresponses, api_key: str | None
) -> None:
    http.post("http://localhost:8000/v1/chat/completions", payload=OPENAI_OK)
    config = openai_config(base_url="http://localhost:8000/v1", api_key=api_key)

    await OpenAIProvider(config, session).complete(Prompt("p"))

    headers = sent(http, "http://localhost:8000/v1/chat/completions")["headers"]
    assert "Authorization" not in headers


async def test_anthropic_joins_text_blocks_and_reads_tokens(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    http.post(ANTHROPIC_URL, payload=ANTHROPIC_OK)

    completion = await AnthropicProvider(anthropic_config(), session).complete(
        Prompt("judge these")
    )

    assert completion.text == "<grade>3</grade>\n<grade>1</grade>"
    assert (completion.input_tokens, completion.output_tokens) == (200, 30)
    request = sent(http, ANTHROPIC_URL)
    assert request["json"] == {
        "model": "claude-x",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "judge these"}],
    }
    assert request["headers"]["x-api-key"] == KEY
    assert request["headers"]["anthropic-version"] == "2023-06-01"


async def test_anthropic_uses_max_output_tokens_and_joins_base_url_with_trailing_slash(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    http.post("https://proxy.example/anthropic/v1/messages", payload=ANTHROPIC_OK)
    config = anthropic_config(base_url="https://proxy.example/anthropic/", max_output_tokens=900)

    await AnthropicProvider(config, session).complete(Prompt("p"))

    assert sent(http, "https://proxy.example/anthropic/v1/messages")["json"]["max_tokens"] == 900


def test_make_provider_picks_the_configured_provider() -> None:
    # The session is never used by the constructors, so a sentinel suffices.
    session: Any = object()
    assert isinstance(make_provider(openai_config(), session), OpenAIProvider)
    assert isinstance(make_provider(anthropic_config(), session), AnthropicProvider)


def test_config_repr_hides_the_api_key() -> None:
    config = openai_config()
    assert KEY not in repr(config)
    assert KEY not in str(config.model_dump())


# --- errors ------------------------------------------------------------------------------


async def fail(session: aiohttp.ClientSession, config: ProviderConfig) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await make_provider(config, session).complete(Prompt("p"))
    return caught.value


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_auth_failure_is_fatal_quotes_the_provider_and_never_the_key(
    session: aiohttp.ClientSession,
    http: aioresponses,
    config: Any,
    url: str,
    error_body: Any,
    status: int,
) -> None:
    http.post(url, status=status, payload=error_body(f"Incorrect API key provided: {KEY}."))

    error = await fail(session, config())

    assert isinstance(error, AuthenticationFailed)
    assert error.is_fatal_for_run
    assert error.status == status
    assert error.message == (
        f"authentication failed (HTTP {status}): Incorrect API key provided: [redacted]."
    )
    assert KEY not in str(error)


# What a URL without the API answers: a web server's or a router's own 404, OpenAI's
# "Invalid URL", Anthropic's bare not_found_error. None of them names a model.
ENDPOINT_404_BODIES = [
    pytest.param("404: Not Found", id="aiohttp"),
    pytest.param("<html><body><h1>404 Not Found</h1>nginx</body></html>", id="html"),
    pytest.param(json.dumps({"detail": "Not Found"}), id="fastapi"),
    pytest.param(
        json.dumps({"error": {"message": "Invalid URL (POST /chat/completions)", "code": None}}),
        id="openai-invalid-url",
    ),
    pytest.param(
        json.dumps({"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}),
        id="anthropic-bare",
    ),
]


@pytest.mark.parametrize("body", ENDPOINT_404_BODIES)
@pytest.mark.parametrize(("config", "hint"), [("openai", "/v1"), ("anthropic", "without /v1")])
def test_a_404_that_names_no_model_is_the_url(body: str, config: str, hint: str) -> None:
    url = "http://127.0.0.1:8000/chat/completions"
    error = classify_response(404, body, {}, model="m", url=url, provider=config)
    assert isinstance(error, EndpointNotFound) and error.is_fatal_for_run
    assert error.message.startswith(f"no API at {url}: it answered HTTP 404 (")
    assert hint in error.message


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"message": "The model `m-1` does not exist", "code": None}}),
        json.dumps({"error": {"message": "no such thing", "code": "model_not_found"}}),
        json.dumps({"error": {"message": "The API deployment does not exist", "code": "x"}}),
        json.dumps({"error": "m-1 not found, try pulling it first"}),
        json.dumps(
            {"type": "error", "error": {"type": "not_found_error", "message": "model: m-1"}}
        ),
    ],
)
def test_a_404_that_names_the_model_stays_model_not_found(body: str) -> None:
    error = classify_response(404, body, {}, model="m-1", url="http://h/v1/chat/completions")
    assert isinstance(error, ModelNotFound)
    assert error.message.startswith("model 'm-1' not found (HTTP 404): ")


@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_404_is_model_not_found_and_fatal(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, error_body: Any
) -> None:
    http.post(url, status=404, payload=error_body("The model does not exist"))

    error = await fail(session, config())

    assert isinstance(error, ModelNotFound)
    assert error.is_fatal_for_run
    assert "not found (HTTP 404): The model does not exist" in error.message
    assert ("'gpt-x'" in error.message) or ("'claude-x'" in error.message)


@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_429_carries_retry_after_seconds(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, error_body: Any
) -> None:
    http.post(url, status=429, payload=error_body("slow down"), headers={"Retry-After": "7"})

    error = await fail(session, config())

    assert isinstance(error, RateLimited)
    assert not error.is_fatal_for_run
    assert error.retry_after == 7.0
    assert error.message == "rate limited (HTTP 429): slow down"


async def test_429_carries_retry_after_http_date(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    http.post(OPENAI_URL, status=429, headers={"Retry-After": format_datetime(later, True)})

    error = await fail(session, openai_config())

    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    # HTTP dates have whole seconds, and a little time passes before classification.
    assert 27 <= error.retry_after <= 30


async def test_429_prefers_retry_after_ms(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    headers = {"retry-after-ms": "250", "retry-after": "1"}
    http.post(OPENAI_URL, status=429, payload=openai_error("slow"), headers=headers)

    error = await fail(session, openai_config())

    assert isinstance(error, RateLimited)
    assert error.retry_after == 0.25


async def test_429_without_retry_after_leaves_it_to_backoff(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    http.post(OPENAI_URL, status=429, payload=openai_error("slow"))

    error = await fail(session, openai_config())

    assert isinstance(error, RateLimited)
    assert error.retry_after is None


async def test_429_insufficient_quota_is_fatal_not_a_rate_limit(
    session: aiohttp.ClientSession, http: aioresponses
) -> None:
    body = openai_error("You exceeded your current quota", code="insufficient_quota")
    http.post(OPENAI_URL, status=429, payload=body)

    error = await fail(session, openai_config())

    assert isinstance(error, QuotaExceeded)
    assert error.is_fatal_for_run
    assert error.message == "quota exceeded (HTTP 429): You exceeded your current quota"


@pytest.mark.parametrize("status", [500, 502, 503, 529])
@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_server_errors_are_transient(
    session: aiohttp.ClientSession,
    http: aioresponses,
    config: Any,
    url: str,
    error_body: Any,
    status: int,
) -> None:
    http.post(url, status=status, payload=error_body("Overloaded", "overloaded_error"))

    error = await fail(session, config())

    assert isinstance(error, TransientProviderError)
    assert error.status == status
    assert error.message == f"provider error (HTTP {status}): Overloaded"


@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_timeout_is_transient(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, error_body: Any
) -> None:
    http.post(url, exception=TimeoutError())

    error = await fail(session, config(request_timeout_s=2.5))

    assert isinstance(error, TransientProviderError)
    assert error.message == "timed out after 2.5s"


@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_connection_error_is_transient(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, error_body: Any
) -> None:
    http.post(url, exception=aiohttp.ClientConnectionError("Cannot connect to host"))

    error = await fail(session, config())

    assert isinstance(error, TransientProviderError)
    assert error.message == "connection error: Cannot connect to host"
    assert error.status is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<html>Bad gateway</html>", id="html"),
        pytest.param('{"choices": [{"message": {"content": "<gra', id="truncated"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_non_json_200_is_transient(
    session: aiohttp.ClientSession,
    http: aioresponses,
    config: Any,
    url: str,
    error_body: Any,
    body: str,
) -> None:
    http.post(url, status=200, body=body)

    error = await fail(session, config())

    assert isinstance(error, TransientProviderError)
    assert error.message.startswith("malformed response body (HTTP 200)")


@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_200_with_error_object_is_transient_with_the_provider_message(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, error_body: Any
) -> None:
    http.post(url, status=200, payload=error_body("upstream hiccup"))

    error = await fail(session, config())

    assert isinstance(error, TransientProviderError)
    assert error.message == "provider returned an error (HTTP 200): upstream hiccup"


@pytest.mark.parametrize(
    ("config", "url", "payload"),
    [
        pytest.param(openai_config, OPENAI_URL, {"choices": []}, id="openai-no-choices"),
        pytest.param(anthropic_config, ANTHROPIC_URL, {"usage": {}}, id="anthropic-no-content"),
    ],
)
async def test_200_of_the_wrong_shape_is_transient(
    session: aiohttp.ClientSession, http: aioresponses, config: Any, url: str, payload: Any
) -> None:
    http.post(url, status=200, payload=payload)

    error = await fail(session, config())

    assert isinstance(error, TransientProviderError)
    assert error.message.startswith("unexpected response body: ")


@pytest.mark.parametrize("status", [400, 413, 422])
@pytest.mark.parametrize(("config", "url", "error_body"), BOTH)
async def test_4xx_is_bad_request_with_the_provider_message(
    session: aiohttp.ClientSession,
    http: aioresponses,
    config: Any,
    url: str,
    error_body: Any,
    status: int,
) -> None:
    http.post(url, status=status, payload=error_body("prompt is too long: 250000 tokens"))

    error = await fail(session, config())

    assert isinstance(error, BadRequest)
    assert not error.is_fatal_for_run
    assert error.message == f"bad request (HTTP {status}): prompt is too long: 250000 tokens"


# --- classify_response and parse_retry_after ---------------------------------------------


def test_classify_falls_back_to_a_truncated_body() -> None:
    page = "<html>" + "x" * 5000 + "</html>"

    error = classify_response(502, page.encode(), {})

    assert isinstance(error, TransientProviderError)
    assert error.message.startswith("provider error (HTTP 502): <html>xxx")
    assert len(error.message) < 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"object": "error", "message": "vllm says no", "code": 400}, "vllm says no"),
        ({"error": "model 'llama9' not found"}, "model 'llama9' not found"),
        ({"detail": "gateway says no"}, "gateway says no"),
    ],
)
def test_classify_reads_compatible_servers_error_shapes(body: Any, message: str) -> None:
    error = classify_response(400, json.dumps(body), {})

    assert error.message == f"bad request (HTTP 400): {message}"


def test_classify_scrubs_the_key_from_a_raw_body() -> None:
    error = classify_response(401, f"bad key {KEY}", {}, api_key=KEY)

    assert KEY not in error.message


NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12.0),
        ("1.5", 1.5),
        (" 3 ", 3.0),
        ("-4", 0.0),
        ("Wed, 01 Jan 2025 12:00:20 GMT", 20.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_classify_uses_now_for_http_dates() -> None:
    headers = {"Retry-After": "Wed, 01 Jan 2025 12:01:00 GMT"}

    error = classify_response(429, b"", headers, now=NOW)

    assert isinstance(error, RateLimited)
    assert error.retry_after == 60.0


def test_endpoint_keeps_the_base_query_and_adds_the_paths_own() -> None:
    azure = openai_config(base_url="https://r.openai.azure.com/openai/deployments/d?api-version=v")
    assert azure.endpoint("/chat/completions") == (
        "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=v"
    )
    assert azure.endpoint("/batches?limit=100") == (
        "https://r.openai.azure.com/openai/deployments/d/batches?api-version=v&limit=100"
    )
    plain = openai_config(base_url="https://api.openai.com/v1/")
    assert plain.endpoint("/batches?limit=100&after=b1") == (
        "https://api.openai.com/v1/batches?limit=100&after=b1"
    )
