"""Cancelling a judging run: no provider call starts after the response; calls in flight
may still write their judgments (partially judged)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids, error
from tests.support.service import ServiceFactory, wait_until_idle
from tests.support.waiting import wait_for


async def test_no_call_starts_after_the_cancel_response(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    release = asyncio.Event()

    async def held(prompt: str, call_no: int) -> web.Response:
        await release.wait()
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}))

    provider = await fake_provider(held)
    try:
        service = await services.start()
        evaluation = await create_evaluation(service, queries=10, per_query=4)
        judge = await create_judge(service, provider.base_url, batch_size=2, concurrency=3)
        run = await start_run(service, evaluation["id"], judge["id"])

        async def three_in_flight() -> bool:
            return provider.in_flight == 3

        await wait_for(three_in_flight)
        status, cancelled = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
        calls_at_response = len(provider.calls)
        assert status == 200, cancelled
        assert cancelled["status"] == "cancelled"
        assert cancelled["finished_at"] is not None

        release.set()  # the three calls in flight answer now and may write
        await wait_until_idle(service)
        final = await wait_until_ended(service, run["id"])
    finally:
        release.set()
    assert calls_at_response == 3
    assert len(provider.calls) == 3, "a provider call started after the cancel response"
    assert final["status"] == "cancelled"
    assert final["judged"] == 6  # the in-flight batches wrote their judgments
    assert final["failed"] == 0
    assert final["total"] == 40
    assert final["partially_judged"] is True
    assert final["progress"] == 0.15


async def test_cancel_of_an_ended_run_is_409_and_unknown_is_404(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, provider.base_url)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "completed"
    status, body = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 409
    assert body["error"]["code"] == "judging_run_ended"
    assert "completed" in body["error"]["message"]
    status, body = await service.request(
        "POST", "/ai-judging-runs/3b241101-e2bb-4255-8caf-4136c566a962/cancel"
    )
    assert status == 404
    status, again = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert again["status"] == "completed"


async def test_cancel_stops_a_run_waiting_out_a_rate_limit(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    both_arrived = asyncio.Event()

    async def limited(prompt: str, call_no: int) -> web.Response:
        # Both calls get their 429 only once both are at the provider: a 429 answered
        # before the second call starts makes that call wait out the Retry-After without
        # asking (as it should), and the run would never make its second call.
        if call_no == 2:
            both_arrived.set()
        await both_arrived.wait()
        return error(429, "slow down", headers={"Retry-After": "30"})

    provider = await fake_provider(limited)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=2)
    judge = await create_judge(service, provider.base_url, batch_size=2, concurrency=2)
    run = await start_run(service, evaluation["id"], judge["id"])

    async def both_limited() -> bool:
        return len(provider.calls) == 2

    await wait_for(both_limited)
    status, _ = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 200
    await wait_until_idle(service)  # the 30 s waits end at once
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "cancelled"
    assert final["judged"] + final["failed"] == 0
    assert len(provider.calls) == 2
