"""Untrusted templates on a real service: a template over a limit on real documents fails
the run before anything is sent, one that loops forever is refused at save within the time
limit, and the service answers other requests meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg
from starlette.applications import Starlette

from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.sim import SimConfig
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProviders
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory
from tests.support.waiting import wait_for

# 1,000 copies of each document: about 60 KB on the samples' one-line documents, more
# than 1 MB on three 2 KB documents.
REPEATING = (
    "Judge these for {{ query }}.\n"
    "{% for c in candidates %}{% for i in range(1000) %}{{ c.text }}{% endfor %}{% endfor %}"
)
# No output, and no end in any useful time.
NESTED_RANGES = (
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}{{ query }}"
)


def _two_kilobytes(q: int, r: int) -> str:
    return f"document {q}-{r} " + "word " * 400


def _request_templates(service: Service) -> TemplateRenderer:
    app = service.server.config.app
    assert isinstance(app, Starlette)
    templates: TemplateRenderer = app.state.services.templates
    return templates


async def test_a_template_over_the_prompt_cap_on_real_documents_fails_the_run_unsent(
    services: ServiceFactory, db: asyncpg.Pool, no_active_runs: None, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, texts=_two_kilobytes)
    # Saved: on the samples it renders well under the cap.
    judge = await create_judge(service, provider.base_url, prompt_template=REPEATING)

    status, body = await service.request(
        "POST",
        f"/ai-judges/{judge['id']}/test",
        json={"evaluation_run_id": evaluation["id"], "sample_size": 3},
    )
    error = assert_error(status, body, 422, "validation_error")
    assert error["message"] == (
        "prompt_template is over a limit: the prompt template rendered more than 1000000 "
        "bytes for one prompt (RELEVAL_MAX_PROMPT_BYTES)"
    )
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge/estimate",
        json={"ai_judge_id": judge["id"]},
    )
    assert_error(status, body, 422, "validation_error")

    run = await start_run(service, evaluation["id"], judge["id"])
    ended = await wait_until_ended(service, run["id"])

    assert ended["status"] == "failed", ended
    assert ended["error"] == (
        "prompt_template is over a limit: the prompt template rendered more than 1000000 bytes "
        "for one prompt (RELEVAL_MAX_PROMPT_BYTES)"
    )
    # Run-fatal: no candidate counted failed one by one, and nothing sent anywhere.
    assert (ended["judged"], ended["failed"]) == (0, 0)
    failures = await db.fetchval(
        "SELECT count(*) FROM candidate_failures WHERE ai_judging_run_id = $1", run["id"]
    )
    assert failures == 0
    assert provider.calls == []


async def test_a_batch_delivery_run_over_the_cap_fails_before_submitting_a_batch(
    services: ServiceFactory, local_servers: LocalServers, no_active_runs: None
) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0, seed=7))
    service = await services.start(batch_poll_s=0.1)
    evaluation = await create_evaluation(service, texts=_two_kilobytes)
    judge = await create_judge(
        service,
        f"http://127.0.0.1:{port}/v1",
        model="gpt-4.1-mini",
        delivery="batch",
        prompt_template=REPEATING,
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    ended = await wait_until_ended(service, run["id"])
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/stats") as resp,
    ):
        stats = await resp.json()

    assert ended["status"] == "failed", ended
    assert "RELEVAL_MAX_PROMPT_BYTES" in ended["error"]
    assert stats["batches_created"] == 0


async def test_a_template_that_never_ends_is_refused_at_save_while_the_service_answers(
    services: ServiceFactory,
) -> None:
    # Long enough that the GET below surely answers while the render goes on.
    service = await services.start(template_timeout_s=3.0)
    templates = _request_templates(service)
    judge: dict[str, Any] = {
        "name": "endless",
        "provider": "openai",
        "model": "m",
        "api_key": "sk-x",
        "prompt_template": NESTED_RANGES,
    }
    saving = asyncio.create_task(service.request("POST", "/ai-judges", json=judge))

    async def rendering() -> bool:
        return templates.in_progress > 0

    await wait_for(rendering, timeout=10)
    # The render is in progress in its thread: the event loop still serves requests.
    status, page = await service.request("GET", "/ai-judges")
    assert status == 200, page
    assert templates.in_progress > 0

    status, body = await saving
    error = assert_error(status, body, 422, "validation_error")
    assert error["message"] == (
        "prompt_template is over a limit: line 1: the prompt template took longer than 3 s "
        "to compile and render its sample batches (RELEVAL_TEMPLATE_TIMEOUT_S)"
    )
    assert error["details"][0]["loc"] == ["body", "prompt_template"]
    # The thread is free again: the next template compiles.
    status, ordinary = await service.request(
        "POST", "/ai-judges", json={**judge, "name": "ordinary", "prompt_template": "{{ query }}"}
    )
    assert status == 201, ordinary
    status, body = await service.request(
        "PATCH", f"/ai-judges/{ordinary['id']}", json={"prompt_template": "{{ 9 ** 9 ** 9 }}"}
    )
    error = assert_error(status, body, 422, "validation_error")
    assert "the ** operator is not allowed" in error["message"]
