"""/metrics: Prometheus text with runs by status, calls, candidates and tokens."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids, error
from tests.support.service import ServiceFactory


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def test_metrics_count_what_a_run_did(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    async def one_429_then_ok(prompt: str, call_no: int) -> web.Response:
        if call_no == 1:
            return error(429, "slow down", headers={"Retry-After": "0.05"})
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}), 50, 10)

    provider = await fake_provider(one_429_then_ok)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=2)
    judge = await create_judge(service, provider.base_url, batch_size=2, concurrency=1)
    run = await start_run(service, evaluation["id"], judge["id"])
    assert (await wait_until_ended(service, run["id"]))["status"] == "completed"
    async with (
        aiohttp.ClientSession() as anonymous,  # no token needed
        anonymous.get(service.base_url + "/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert sample(text, 'releval_judging_runs{status="completed"}') >= 1
    assert sample(text, 'releval_candidates_total{outcome="judged"}') == 4
    assert sample(text, 'releval_tokens_total{direction="input"}') == 100
    assert sample(text, 'releval_provider_rate_limited_total{provider="openai"}') == 1
    assert (
        sample(text, 'releval_provider_retries_total{provider="openai",reason="rate_limited"}') == 1
    )
    assert sample(text, 'releval_provider_calls_in_flight{provider="openai"}') == 0
    assert sample(text, 'releval_provider_call_seconds_count{outcome="ok",provider="openai"}') == 2
    # The loop-lag monitor's 20-ms timer fired during the run (the 429 alone waited 50 ms).
    assert sample(text, "releval_event_loop_lag_seconds_count") >= 1
