"""The simulator's live routes in their 2026 shape: reasoning-model parameter rules, older
servers, prompt caching of both providers, the Azure OpenAI routes (real HTTP server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from releval_judge.sim import SimConfig, StatsReport
from releval_judge.sim.caching import ExplicitCache, PromptCache
from releval_judge.sim.grader import estimate_tokens
from tests.support.sim import ANTHROPIC_HEADERS, CLIMATE_PROMPT, Client, grades, sim_client

# A stable instruction prefix long enough to be cached (6,000 characters, 1,500 tokens).
STABLE = ("Judge each document for the query below. " * 150)[:6000]


@pytest.fixture
async def sim() -> AsyncIterator[Client]:
    """The simulator on real time (unlike tests/unit/conftest.py's, on a test's clock)."""
    client = await sim_client(SimConfig(latency_ms=0))
    yield client
    await client.close()


async def chat(
    client: Client, path: str = "/v1/chat/completions", **body: Any
) -> tuple[int, dict[str, Any]]:
    headers = body.pop("_headers", None)
    payload = {"messages": [{"role": "user", "content": CLIMATE_PROMPT}], **body}
    async with client.post(path, json=payload, headers=headers) as response:
        return response.status, await response.json()


async def post(
    client: Client, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with client.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


def openai_error(message: str, param: str, code: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


# --- reasoning models ---------------------------------------------------------------------


async def test_reasoning_model_refuses_max_tokens(sim: Client) -> None:
    status, body = await chat(sim, model="o3-mini", max_tokens=500)

    assert status == 400
    assert body == openai_error(
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "max_tokens",
        "unsupported_parameter",
    )


async def test_reasoning_model_refuses_a_temperature_other_than_one(
    sim: Client,
) -> None:
    status, body = await chat(sim, model="gpt-5-mini", temperature=0)
    status_02, body_02 = await chat(sim, model="o1", temperature=0.2)
    status_1, _ = await chat(sim, model="o1", temperature=1)

    assert (status, status_02, status_1) == (400, 400, 200)
    assert body == openai_error(
        "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported.",
        "temperature",
        "unsupported_value",
    )
    assert "does not support 0.2 with this model" in body_02["error"]["message"]


async def test_reasoning_effort_only_for_reasoning_models_and_known_values(
    sim: Client,
) -> None:
    status_other, other = await chat(sim, model="gpt-4o", reasoning_effort="low")
    status_bad, bad = await chat(sim, model="o4-mini", reasoning_effort="extreme")

    assert (status_other, status_bad) == (400, 400)
    assert other == openai_error(
        "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
        "reasoning_effort",
        "unsupported_parameter",
    )
    assert bad["error"]["param"] == "reasoning_effort"
    assert bad["error"]["code"] == "unsupported_value"
    assert "'extreme'" in bad["error"]["message"]


async def test_reasoning_model_bills_reasoning_tokens_by_effort(
    sim: Client,
) -> None:
    _, medium = await chat(sim, model="o3", max_completion_tokens=4000)
    _, high = await chat(sim, model="o3", max_completion_tokens=4000, reasoning_effort="high")
    status, plain = await chat(sim, model="gpt-4o", max_completion_tokens=4000)

    visible = estimate_tokens(medium["choices"][0]["message"]["content"])
    assert medium["usage"]["completion_tokens_details"] == {"reasoning_tokens": visible}
    assert medium["usage"]["completion_tokens"] == 2 * visible
    assert high["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2 * visible
    assert high["usage"]["completion_tokens"] == 3 * visible
    assert status == 200
    assert plain["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    assert set(grades(medium["choices"][0]["message"]["content"])) == {"1", "2", "3"}


async def test_reasoning_prefixes_are_configurable() -> None:
    client = await sim_client(SimConfig(latency_ms=0, reasoning_model_prefixes=("thinker",)))
    try:
        status_o3, _ = await chat(client, model="o3", max_tokens=10, temperature=0)
        status_thinker, _ = await chat(client, model="thinker-2", max_tokens=10)
    finally:
        await client.close()

    assert (status_o3, status_thinker) == (200, 400)


async def test_a_legacy_server_does_not_know_max_completion_tokens() -> None:
    client = await sim_client(SimConfig(latency_ms=0, legacy_max_tokens=True))
    try:
        status, body = await chat(client, model="gpt-sim", max_completion_tokens=100)
        status_old, _ = await chat(client, model="gpt-sim", max_tokens=100)
    finally:
        await client.close()

    assert (status, status_old) == (400, 200)
    assert body == {
        "object": "error",
        "message": "Unrecognized request argument supplied: max_completion_tokens",
        "type": "BadRequestError",
        "code": 400,
    }


async def test_anthropic_refuses_reasoning_effort(sim: Client) -> None:
    body = {
        "model": "claude-sim",
        "max_tokens": 100,
        "reasoning_effort": "low",
        "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
    }
    status, answer = await post(sim, "/v1/messages", body, ANTHROPIC_HEADERS)

    assert status == 400
    assert answer == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "reasoning_effort: Extra inputs are not permitted",
        },
    }


# --- prompt caching -----------------------------------------------------------------------


async def test_openai_caches_a_long_prefix_in_128_token_steps(sim: Client) -> None:
    first_prompt = STABLE + "\n" + CLIMATE_PROMPT
    other_prompt = STABLE + "\nQuery: banana bread\n" + CLIMATE_PROMPT
    usages = []
    for prompt in (first_prompt, other_prompt, other_prompt):
        status, body = await chat(
            sim, model="gpt-sim", messages=[{"role": "user", "content": prompt}]
        )
        assert status == 200
        usages.append(body["usage"])

    cached = [u["prompt_tokens_details"]["cached_tokens"] for u in usages]
    # The two prompts share 6,001 characters: the prefix up to 5,632 = 4,096 + 3 × 512.
    assert cached[0] == 0
    assert cached[1] == 5632 // 4
    assert cached[2] == (len(other_prompt) - (len(other_prompt) - 4096) % 512) // 4
    assert all((c - 1024) % 128 == 0 for c in cached[1:])
    assert usages[1]["prompt_tokens"] == estimate_tokens(other_prompt)


async def test_openai_does_not_cache_short_prompts_or_across_models(
    sim: Client,
) -> None:
    long_prompt = STABLE + "\n" + CLIMATE_PROMPT
    cached = []
    for model, prompt in (
        ("gpt-sim", CLIMATE_PROMPT),
        ("gpt-sim", CLIMATE_PROMPT),
        ("gpt-sim", long_prompt),
        ("gpt-other", long_prompt),
    ):
        _, body = await chat(sim, model=model, messages=[{"role": "user", "content": prompt}])
        cached.append(body["usage"]["prompt_tokens_details"]["cached_tokens"])

    assert cached == [0, 0, 0, 0]


def anthropic_cached_body(stable: str, model: str = "claude-sim") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 1024,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": CLIMATE_PROMPT},
                ],
            }
        ],
    }


async def test_anthropic_writes_then_reads_the_marked_prefix(sim: Client) -> None:
    answers = []
    for _ in range(2):
        status, body = await post(
            sim, "/v1/messages", anthropic_cached_body(STABLE), ANTHROPIC_HEADERS
        )
        assert status == 200
        answers.append(body)
    async with sim.get("/stats") as response:
        report = StatsReport.model_validate_json(await response.read())

    total = estimate_tokens(STABLE + "\n" + CLIMATE_PROMPT)
    prefix = estimate_tokens(STABLE)
    first, second = (a["usage"] for a in answers)
    assert first["cache_creation_input_tokens"] == prefix
    assert first["cache_read_input_tokens"] == 0
    assert second["cache_creation_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == prefix
    assert first["input_tokens"] == second["input_tokens"] == total - prefix
    assert set(grades(answers[1]["content"][0]["text"])) == {"1", "2", "3"}
    assert report.input_tokens == 2 * total
    assert report.cached_input_tokens == prefix
    assert report.cache_creation_input_tokens == prefix


async def test_anthropic_does_not_cache_a_short_marked_block(sim: Client) -> None:
    usages = []
    for _ in range(2):
        _, body = await post(
            sim, "/v1/messages", anthropic_cached_body("Judge these."), ANTHROPIC_HEADERS
        )
        usages.append(body["usage"])

    for usage in usages:
        assert usage["cache_creation_input_tokens"] == 0
        assert usage["cache_read_input_tokens"] == 0
        assert usage["input_tokens"] == estimate_tokens("Judge these.\n" + CLIMATE_PROMPT)


async def test_anthropic_caches_a_marked_system_block(sim: Client) -> None:
    body = {
        "model": "claude-sim",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": STABLE, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
    }
    reads = []
    for _ in range(2):
        _, answer = await post(sim, "/v1/messages", body, ANTHROPIC_HEADERS)
        reads.append(answer["usage"]["cache_read_input_tokens"])

    assert reads == [0, estimate_tokens(STABLE)]


# --- Azure OpenAI -------------------------------------------------------------------------


@pytest.fixture
async def keyed() -> AsyncIterator[Client]:
    client = await sim_client(SimConfig(latency_ms=0, api_key="azure-key"))
    yield client
    await client.close()


DEPLOYMENT = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


async def test_azure_deployment_route_takes_the_model_from_the_path(
    keyed: Client,
) -> None:
    status, body = await chat(
        keyed, DEPLOYMENT.format("gpt-4o-judge"), _headers={"api-key": "azure-key"}
    )

    assert status == 200
    assert body["model"] == "gpt-4o-judge"
    assert set(grades(body["choices"][0]["message"]["content"])) == {"1", "2", "3"}


async def test_azure_deployment_route_needs_the_api_key_header_and_api_version(
    keyed: Client,
) -> None:
    path = DEPLOYMENT.format("gpt-4o-judge")
    bearer, bearer_body = await chat(keyed, path, _headers={"Authorization": "Bearer azure-key"})
    wrong, _ = await chat(keyed, path, _headers={"api-key": "nope"})
    no_version, version_body = await chat(
        keyed,
        "/openai/deployments/gpt-4o-judge/chat/completions",
        _headers={"api-key": "azure-key"},
    )

    assert (bearer, wrong, no_version) == (401, 401, 400)
    assert "subscription key" in bearer_body["error"]["message"]
    assert version_body["error"]["param"] == "api-version"


async def test_azure_deployment_follows_the_reasoning_rules_and_404s_when_missing(
    keyed: Client,
) -> None:
    key = {"api-key": "azure-key"}
    status, body = await chat(keyed, DEPLOYMENT.format("o4-mini"), max_tokens=10, _headers=key)
    gone, gone_body = await chat(keyed, DEPLOYMENT.format("missing-judge"), _headers=key)

    assert (status, body["error"]["code"]) == (400, "unsupported_parameter")
    assert (gone, gone_body["error"]["code"]) == (404, "DeploymentNotFound")


async def test_azure_v1_route_takes_api_key_or_bearer(keyed: Client) -> None:
    path = "/openai/v1/chat/completions"
    by_key, body = await chat(keyed, path, model="gpt-4o", _headers={"api-key": "azure-key"})
    by_bearer, _ = await chat(
        keyed, path, model="gpt-4o", _headers={"Authorization": "Bearer azure-key"}
    )
    without, _ = await chat(keyed, path, model="gpt-4o")
    no_model, no_model_body = await chat(keyed, path, _headers={"api-key": "azure-key"})
    reasoning, reasoning_body = await chat(
        keyed, path, model="gpt-5", temperature=0, _headers={"api-key": "azure-key"}
    )

    assert (by_key, by_bearer, without, no_model, reasoning) == (200, 200, 401, 400, 400)
    assert body["model"] == "gpt-4o"
    assert "model" in no_model_body["error"]["message"]
    assert reasoning_body["error"]["code"] == "unsupported_value"


def test_the_new_fields_come_through_the_cli_json_config() -> None:
    config = SimConfig.model_validate_json(
        '{"reasoning_model_prefixes": ["o9"], "legacy_max_tokens": true,'
        ' "batch_completion_s": 0.5, "batch_expiry_s": 3, "batch_cancel_s": 0,'
        ' "batch_request_error_every": 7, "batch_max_requests": 10,'
        ' "prompt_cache_entries": 5}'
    )

    assert config.is_reasoning_model("o9-mini") and not config.is_reasoning_model("o3")
    assert config.legacy_max_tokens
    assert (config.batch_completion_s, config.batch_expiry_s, config.batch_cancel_s) == (0.5, 3, 0)
    assert (config.batch_request_error_every, config.batch_max_requests) == (7, 10)
    with pytest.raises(ValueError, match="batch_request_error_every"):
        SimConfig(batch_request_error_every=0)


def test_the_prompt_cache_forgets_the_least_recently_used_prefix() -> None:
    cache = PromptCache(entries=2)
    first, second, third = ("a" * 6000, "b" * 6000, "c" * 6000)

    kinds = [cache.explicit("m", prefix) for prefix in (first, second, first, third)]

    assert kinds == [
        ExplicitCache("creation", 1500),
        ExplicitCache("creation", 1500),
        ExplicitCache("read", 1500),
        ExplicitCache("creation", 1500),
    ]
    # Three prefixes for two places: the second, least recently used, was forgotten.
    assert cache.explicit("m", first) == ExplicitCache("read", 1500)
    assert cache.explicit("m", second) == ExplicitCache("creation", 1500)
    assert cache.explicit("m", "short") is None
