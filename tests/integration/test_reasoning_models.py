"""Reasoning models and their parameters, over real HTTP to a local server that keeps
OpenAI's rules: `max_tokens` refused (`max_completion_tokens` wanted), `temperature` refused
unless 1, `reasoning_effort` passed through; an old server that knows only `max_tokens`;
Azure's `api-key` header and deployment URLs; cached input tokens read and priced."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import blocks, document_ids
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory, wait_until_idle

REASONING_MAX_TOKENS = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}


def reasoning_temperature(value: object) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Unsupported value: 'temperature' does not support {value} with this "
            "model. Only the default (1) value is supported.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "unsupported_value",
        }
    }


OLD_SERVER = {
    "object": "error",
    "message": "Unrecognized request argument supplied: max_completion_tokens",
    "type": "BadRequestError",
    "code": 400,
}


@dataclass
class ModelServer:
    """A chat completions server: `rules` is "reasoning" (OpenAI's o-series and gpt-5
    rules) or "old" (a server that predates max_completion_tokens)."""

    rules: str = "reasoning"
    cached_tokens: int = 0
    # Input tokens billed per call; None: the prompt's characters / 4, as a tokenizer would.
    prompt_tokens: int | None = 1000
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0  # once served

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.paths.append(request.path_qs)
        self.headers.append(dict(request.headers))
        if self.rules == "reasoning":
            if "max_tokens" in body:
                return web.json_response(REASONING_MAX_TOKENS, status=400)
            if "temperature" in body and body["temperature"] != 1:
                return web.json_response(reasoning_temperature(body["temperature"]), status=400)
        if self.rules == "old" and "max_completion_tokens" in body:
            return web.json_response(OLD_SERVER, status=400)
        prompt = body["messages"][0]["content"]
        text = blocks({cid: 2 for cid in document_ids(prompt)})
        return web.json_response(
            {
                "choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {
                    "prompt_tokens": self.prompt_tokens or len(prompt) // 4,
                    "completion_tokens": 50,
                    "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
                    "completion_tokens_details": {"reasoning_tokens": 30},
                },
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.handle)
        app.router.add_post("/openai/v1/chat/completions", self.handle)
        return app


@pytest.fixture
async def server(local_servers: LocalServers) -> ModelServer:
    model = ModelServer()
    model.port = await local_servers.serve(model.app())
    return model


async def run_to_end(service: Service, judge: dict[str, Any], **evaluation: Any) -> dict[str, Any]:
    created = await create_evaluation(service, **evaluation)
    run = await start_run(service, created["id"], judge["id"])
    ended = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)
    return ended


async def test_a_reasoning_model_with_default_settings_judges_everything(
    service: Service, server: ModelServer
) -> None:
    judge = await create_judge(
        service, server.base_url, model="o4-mini", max_output_tokens=2000, concurrency=4
    )
    assert judge["temperature"] is None

    ended = await run_to_end(service, judge, queries=10, per_query=30)

    assert (ended["status"], ended["judged"], ended["failed"]) == ("completed", 300, 0)
    assert all(body["max_completion_tokens"] == 2000 for body in server.bodies)
    assert not any("max_tokens" in body or "temperature" in body for body in server.bodies)
    assert len(server.bodies) == 100  # one call per batch of 3, no retried 400s


async def test_reasoning_effort_is_sent_only_when_set(
    service: Service, server: ModelServer
) -> None:
    judge = await create_judge(service, server.base_url, model="gpt-5", reasoning_effort="low")
    ended = await run_to_end(service, judge, queries=1, per_query=3)

    assert ended["status"] == "completed"
    assert [body["reasoning_effort"] for body in server.bodies] == ["low"]


async def test_a_refused_temperature_fails_the_run_at_once_naming_the_parameter(
    service: Service, server: ModelServer, db: asyncpg.Pool
) -> None:
    judge = await create_judge(service, server.base_url, model="o3", temperature=0, concurrency=4)

    ended = await run_to_end(service, judge, queries=10, per_query=30)

    assert ended["status"] == "failed"
    assert "'temperature'" in ended["error"]
    assert "Only the default (1) value is supported" in ended["error"]
    assert "set the judge's temperature to null" in ended["error"]
    # At most one round of in-flight calls, and no per-candidate failures.
    assert len(server.bodies) <= 4
    assert (ended["judged"], ended["failed"]) == (0, 0)
    failures = await db.fetchval(
        "SELECT count(*) FROM candidate_failures WHERE ai_judging_run_id = $1::uuid", ended["id"]
    )
    assert failures == 0


async def test_the_judge_test_route_shows_the_same_message_before_any_run(
    service: Service, server: ModelServer
) -> None:
    judge = await create_judge(service, server.base_url, model="o3", temperature=0.2)
    status, body = await service.request(
        "POST",
        f"/ai-judges/{judge['id']}/test",
        json={"query": "q", "candidates": [{"text": "a document"}]},
    )
    text = json.dumps(body)
    assert "'temperature'" in text and "Only the default (1) value is supported" in text, body
    assert status in (200, 422, 502), body


async def test_an_old_server_gets_max_tokens_after_one_refusal_and_judges_everything(
    service: Service, server: ModelServer
) -> None:
    server.rules = "old"
    judge = await create_judge(service, server.base_url, max_output_tokens=500, concurrency=1)

    ended = await run_to_end(service, judge, queries=2, per_query=6)

    assert (ended["status"], ended["judged"], ended["failed"]) == ("completed", 12, 0)
    caps = [("max_completion_tokens" in b, b.get("max_tokens")) for b in server.bodies]
    # The first call is refused and sent again with max_tokens; every later call uses it.
    assert caps == [(True, None)] + [(False, 500)] * 4


async def test_cached_input_tokens_are_stored_shown_and_priced(
    service: Service, server: ModelServer
) -> None:
    server.cached_tokens = 600
    judge = await create_judge(
        service,
        server.base_url,
        input_price_per_mtok=2.0,
        cached_input_price_per_mtok=0.5,
        output_price_per_mtok=8.0,
    )

    ended = await run_to_end(service, judge, queries=1, per_query=6)

    assert ended["status"] == "completed"
    assert (ended["input_tokens"], ended["cached_input_tokens"]) == (2000, 1200)
    # 800 uncached at 2.0, 1200 cached at 0.5, 100 output at 8.0 (per million).
    assert ended["cost"] == {
        "input": 0.0016,
        "cached_input": 0.0006,
        "output": 0.0008,
        "total": 0.003,
    }
    assert (ended["delivery"], ended["provider_batches"], ended["max_cost"]) == ("live", [], None)


@pytest.mark.parametrize(
    ("base_path", "expected_path"),
    [
        (
            "/openai/deployments/judge-o4?api-version=2025-04-01-preview",
            "/openai/deployments/judge-o4/chat/completions?api-version=2025-04-01-preview",
        ),
        ("/openai/v1", "/openai/v1/chat/completions"),
    ],
)
async def test_azure_openai_gets_its_api_key_header_at_its_deployment_urls(
    service: Service, server: ModelServer, base_path: str, expected_path: str
) -> None:
    judge = await create_judge(
        service, f"http://127.0.0.1:{server.port}{base_path}", model="judge-o4"
    )

    ended = await run_to_end(service, judge, queries=1, per_query=3)

    assert ended["status"] == "completed", ended
    assert server.paths == [expected_path]
    assert server.headers[0]["api-key"] == "sk-test-key"
    assert "Authorization" not in server.headers[0]


async def test_a_judge_refuses_reasoning_effort_for_anthropic_and_batch_on_a_classic_azure_url(
    services: ServiceFactory,
) -> None:
    service = await services.start()
    status, body = await service.request(
        "POST",
        "/ai-judges",
        json={
            "name": "a",
            "provider": "anthropic",
            "model": "claude-x",
            "api_key": "k",
            "reasoning_effort": "high",
        },
    )
    assert status == 422 and "reasoning_effort" in body["error"]["message"], body
    status, body = await service.request(
        "POST",
        "/ai-judges",
        json={
            "name": "b",
            "provider": "openai",
            "model": "judge",
            "api_key": "k",
            "base_url": "https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
            "delivery": "batch",
        },
    )
    assert status == 422 and "/v1" in body["error"]["message"], body


async def test_max_cost_stops_the_run_failed_and_unjudged_scope_continues_it(
    service: Service, server: ModelServer
) -> None:
    # The bound reserved before a call (prompt characters / 3 and max_output_tokens) is
    # above what the call bills (characters / 4 and 50), so the limit holds.
    server.prompt_tokens = None
    judge = await create_judge(
        service,
        server.base_url,
        input_price_per_mtok=10.0,
        output_price_per_mtok=40.0,
        max_output_tokens=50,
        concurrency=1,
    )
    created = await create_evaluation(service, queries=4, per_query=6)
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{created['id']}/ai-judge",
        json={"ai_judge_id": judge["id"], "max_cost": 0.005},
    )
    assert status == 201, run
    assert run["max_cost"] == 0.005
    ended = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)

    assert ended["status"] == "failed"
    assert "cost limit reached" in ended["error"]
    assert 0 < ended["judged"] < 24
    assert ended["cost"]["total"] <= 0.005
    calls = len(server.bodies)

    rest = await start_run_with(service, created["id"], judge["id"], scope="unjudged")
    finished = await wait_until_ended(service, rest["id"])
    assert finished["status"] == "completed"
    assert ended["judged"] + finished["judged"] == 24
    assert len(server.bodies) == 8  # every batch of 3 called once over both runs
    assert calls == ended["judged"] // 3


async def test_max_cost_needs_prices_and_a_positive_number(
    service: Service, server: ModelServer
) -> None:
    judge = await create_judge(service, server.base_url)
    created = await create_evaluation(service)
    path = f"/evaluations/runs/{created['id']}/ai-judge"
    status, body = await service.request(
        "POST", path, json={"ai_judge_id": judge["id"], "max_cost": 1.0}
    )
    assert status == 422 and "price" in body["error"]["message"], body
    status, body = await service.request(
        "POST", path, json={"ai_judge_id": judge["id"], "max_cost": -1}
    )
    assert status == 422 and body["error"]["code"], body


async def start_run_with(
    service: Service, evaluation_id: str, judge_id: str, **body: Any
) -> dict[str, Any]:
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation_id}/ai-judge",
        json={"ai_judge_id": judge_id, **body},
    )
    assert status == 201, run
    result: dict[str, Any] = run
    return result
