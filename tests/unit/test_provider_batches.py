"""The batch clients' pure parts: the file of requests and its limits, and how each result
line of OpenAI's output/error files and Anthropic's results becomes a `BatchResult`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from releval_judge.providers import (
    AnthropicProvider,
    ModelNotFound,
    OpenAIProvider,
    ProviderConfig,
    UnsupportedParameter,
)
from releval_judge.providers.batches import BatchLimits, BatchRequest, batch_delivery_problem
from releval_judge.providers.batches.anthropic import AnthropicBatches
from releval_judge.providers.batches.openai import OpenAIBatches

SESSION: Any = object()  # never used by the parts under test


def openai() -> OpenAIBatches:
    config = ProviderConfig(provider="openai", model="gpt-x", api_key="k")
    return OpenAIBatches(OpenAIProvider(config, SESSION), SESSION)


def anthropic() -> AnthropicBatches:
    config = ProviderConfig(provider="anthropic", model="claude-x", api_key="k")
    return AnthropicBatches(AnthropicProvider(config, SESSION), SESSION)


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def test_a_batch_file_closes_at_the_request_and_byte_limits() -> None:
    client = openai()
    client.limits = BatchLimits(max_requests=3, max_bytes=400)
    file = client.new_file()
    encoded = client.encode(BatchRequest("a-1", {"model": "gpt-x", "messages": []}))
    assert 100 < len(encoded) < 120
    assert file.fits(encoded)
    file.add("a-1", encoded)
    second = client.encode(BatchRequest("a-2", {"model": "gpt-x", "messages": []}))
    file.add("a-2", second)
    assert not file.fits(encoded + b" " * 90)  # bytes: 2 × 103 + 2 newlines + 193 > 400
    file.add("a-3", client.encode(BatchRequest("a-3", {"model": "gpt-x", "messages": []})))
    assert not file.fits(encoded)  # requests
    lines = file.finish().read().decode().splitlines()
    assert [json.loads(x)["custom_id"] for x in lines] == ["a-1", "a-2", "a-3"]
    assert json.loads(lines[0])["url"] == "/v1/chat/completions"
    file.close()


def test_an_anthropic_file_is_one_json_body_of_requests() -> None:
    client = anthropic()
    file = client.new_file()
    for n in (1, 2):
        file.add(f"k-{n}", client.encode(BatchRequest(f"k-{n}", {"model": "claude-x"})))
    body = json.loads(file.finish().read())
    assert body == {
        "requests": [
            {"custom_id": "k-1", "params": {"model": "claude-x"}},
            {"custom_id": "k-2", "params": {"model": "claude-x"}},
        ]
    }
    file.close()


def test_openai_result_lines() -> None:
    client = openai()
    ok = client._result(
        line(
            {
                "custom_id": "k-1",
                "response": {
                    "status_code": 200,
                    "body": {
                        "choices": [{"message": {"content": "<grade>2</grade>"}}],
                        "usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": 9,
                            "prompt_tokens_details": {"cached_tokens": 64},
                        },
                    },
                },
                "error": None,
            }
        )
    )
    assert ok is not None and ok.kind == "succeeded" and ok.completion is not None
    assert (ok.completion.input_tokens, ok.completion.cached_input_tokens) == (100, 64)

    refused = client._result(
        line(
            {
                "custom_id": "k-2",
                "response": {
                    "status_code": 400,
                    "body": {
                        "error": {
                            "message": "Unsupported parameter: 'max_tokens' is not supported",
                            "param": "max_tokens",
                            "code": "unsupported_parameter",
                        }
                    },
                },
                "error": None,
            }
        )
    )
    assert refused is not None and refused.kind == "errored"
    assert isinstance(refused.error, UnsupportedParameter) and refused.error.is_fatal_for_run

    expired = client._result(
        line(
            {
                "custom_id": "k-3",
                "response": None,
                "error": {"code": "batch_expired", "message": "not run in time"},
            }
        )
    )
    assert expired is not None and expired.kind == "expired"
    assert client._result(b"not json") is None


def test_anthropic_result_lines() -> None:
    client = anthropic()
    ok = client._result(
        line(
            {
                "custom_id": "k-1",
                "result": {
                    "type": "succeeded",
                    "message": {
                        "content": [{"type": "text", "text": "<grade>1</grade>"}],
                        "usage": {
                            "input_tokens": 10,
                            "output_tokens": 5,
                            "cache_read_input_tokens": 1500,
                            "cache_creation_input_tokens": 0,
                        },
                    },
                },
            }
        )
    )
    assert ok is not None and ok.completion is not None
    assert (ok.completion.input_tokens, ok.completion.cached_input_tokens) == (1510, 1500)

    missing = client._result(
        line(
            {
                "custom_id": "k-2",
                "result": {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": "not_found_error", "message": "model: claude-x"},
                    },
                },
            }
        )
    )
    assert missing is not None and isinstance(missing.error, ModelNotFound)
    assert missing.error.is_fatal_for_run and "model: claude-x" in missing.error.message

    for kind in ("canceled", "expired"):
        result = client._result(line({"custom_id": "k-3", "result": {"type": kind}}))
        assert result is not None and result.kind == kind


@pytest.mark.parametrize(
    ("provider", "base_url", "allowed"),
    [
        ("openai", None, True),
        ("openai", "https://api.openai.com/v1", True),
        ("openai", "https://r.openai.azure.com/openai/v1/", True),
        ("openai", "https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21", False),
        ("openai", "http://localhost:8000", False),
        ("anthropic", "https://api.anthropic.com", True),
    ],
)
def test_which_judges_can_deliver_in_batches(
    provider: Any, base_url: str | None, allowed: bool
) -> None:
    assert (batch_delivery_problem(provider, base_url) is None) is allowed
