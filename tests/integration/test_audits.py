"""Audits end to end (DESIGN.md, "Audits"), on real PostgreSQL and the provider simulator:
an audit tells a steady judge (consistent) from one that favours the first document of a
batch (order_sensitive) and one whose grades waver (unstable); it never changes the run's
judgments; it costs about two judgings of its sample; it can be cancelled (keeping what it
spent), and one left running by a stopped process is finished at the next start
(test_audit_resume.py: without asking again what was answered)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from releval_judge.sim import SimConfig
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.audits import audit_of, judged_run
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory
from tests.support.waiting import wait_for

Api = Service


async def sim_stats(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/stats") as resp,
    ):
        result: dict[str, Any] = await resp.json()
        return result


async def run_judgments(service: Api, run_id: str) -> list[dict[str, Any]]:
    status, page = await service.request(
        "GET", f"/ai-judging-runs/{run_id}/judgments", params={"limit": 1000}
    )
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.fixture
async def sim_port(local_servers: LocalServers) -> int:
    """One simulator: ``biased-model`` favours the first document of each batch by one
    grade; every other model is steady."""
    return await local_servers.sim(
        SimConfig(
            latency_ms=0, seed=7, position_bias=1, behaviour_models=frozenset({"biased-model"})
        )
    )


async def test_a_steady_judge_is_consistent_and_its_judgments_stay(
    service: Service, sim_port: int
) -> None:
    run = await judged_run(service, f"http://127.0.0.1:{sim_port}/v1", model="steady-model")
    before = await run_judgments(service, run["id"])

    audit = await audit_of(service, run["id"], seed=3)

    assert audit["status"] == "completed", audit
    assert audit["verdict"] == "consistent"
    assert audit["sample_size"] == 100 and audit["failed"] == 0
    assert audit["repeat"]["exact"] == 1.0 and audit["order"]["exact"] == 1.0
    assert audit["repeat"]["pairs"] == 100
    position = audit["position"]
    # Batches of 5 over 10 queries of 10: 20 batches, two ends each.
    assert position["pairs"] == 40
    assert position["first_minus_last"] == 0.0 and position["ci95"] == [0.0, 0.0]
    assert audit["input_tokens"] > 0 and audit["output_tokens"] > 0
    # Its grades went nowhere: the run's judgments are as they were.
    assert await run_judgments(service, run["id"]) == before
    status, after = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert (status, after["judged"], after["input_tokens"]) == (
        200,
        run["judged"],
        run["input_tokens"],
    )


async def test_a_position_biased_judge_is_order_sensitive(service: Service, sim_port: int) -> None:
    run = await judged_run(service, f"http://127.0.0.1:{sim_port}/v1", model="biased-model")

    audit = await audit_of(service, run["id"], seed=3)

    assert audit["status"] == "completed", audit
    assert audit["verdict"] == "order_sensitive", audit
    position = audit["position"]
    low, high = position["ci95"]
    assert position["first_minus_last"] >= 0.25
    assert 0 < low <= position["first_minus_last"] <= high
    # Same batches in the same order: the bias repeats itself exactly.
    assert audit["repeat"]["exact"] == 1.0
    assert audit["order"]["exact"] < 1.0


async def test_a_wavering_judge_is_unstable(service: Service, local_servers: LocalServers) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0, seed=11, waver_rate=0.3))
    run = await judged_run(service, f"http://127.0.0.1:{port}/v1", model="any-model")

    audit = await audit_of(service, run["id"], seed=5)

    assert audit["status"] == "completed", audit
    assert audit["verdict"] == "unstable", audit
    assert audit["repeat"]["exact"] < 0.8
    # A step either way, at random: no position effect to speak of.
    assert abs(audit["position"]["first_minus_last"]) < 0.25


async def test_an_audit_of_100_costs_at_most_2_2_judgings_of_100(
    service: Service, sim_port: int
) -> None:
    before = await sim_stats(sim_port)
    run = await judged_run(
        service,
        f"http://127.0.0.1:{sim_port}/v1",
        model="steady-model",
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
    )
    judged = await sim_stats(sim_port)

    audit = await audit_of(service, run["id"])

    audited = await sim_stats(sim_port)
    run_calls = judged["calls"] - before["calls"]
    audit_calls = audited["calls"] - judged["calls"]
    assert audit["calls"] == audit_calls
    assert run_calls > 0 and audit_calls <= 2.2 * run_calls, (run_calls, audit_calls)
    assert audited["input_tokens"] - judged["input_tokens"] == audit["input_tokens"]
    assert audited["output_tokens"] - judged["output_tokens"] == audit["output_tokens"]
    # Its own cost, at the run's prices; the run's stays as it was.
    expected = (audit["input_tokens"] * 2.0 + audit["output_tokens"] * 8.0) / 1e6
    assert audit["cost"]["total"] == pytest.approx(expected, abs=1e-6)
    status, after = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert (status, after["cost"]) == (200, run["cost"])


async def test_the_sample_is_fixed_by_the_seed_and_cut_at_its_size(
    service: Service, sim_port: int
) -> None:
    run = await judged_run(
        service, f"http://127.0.0.1:{sim_port}/v1", model="steady-model", queries=4, per_query=5
    )

    small = await audit_of(service, run["id"], sample_size=7, seed=1)
    again = await audit_of(service, run["id"], sample_size=7, seed=1)
    larger = await audit_of(service, run["id"], sample_size=500, seed=1)

    assert small["sample_size"] == again["sample_size"] == 7
    assert small["seed"] == 1 and small["repeat"] == again["repeat"]
    # A run of 20 judged candidates gives at most 20.
    assert larger["sample_size"] == 20 and larger["repeat"]["pairs"] == 20


async def test_an_audit_is_cancelled_its_calls_stop_and_what_it_spent_is_kept(
    service: Service, fake_provider: FakeProviders
) -> None:
    release = asyncio.Event()
    audit_calls = 0

    async def respond(prompt: str, call_no: int) -> web.Response:
        nonlocal audit_calls
        if release.is_set():
            audit_calls += 1
            if audit_calls > 1:
                await asyncio.Event().wait()  # the audit's second call never gets an answer
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    provider = await fake_provider(respond)
    judge = await create_judge(
        service,
        provider.base_url,
        batch_size=3,
        concurrency=1,
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
    )
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    run = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert run["status"] == "completed"
    release.set()
    status, audit = await service.request(
        "POST", f"/ai-judging-runs/{run['id']}/audits", json={"sample_size": 6}
    )
    assert status == 201, audit

    async def second_call_held() -> bool:
        _, body = await service.request("GET", f"/audits/{audit['id']}")
        return audit_calls == 2 and body["calls"] == 1

    await wait_for(second_call_held, timeout=10.0)
    status, cancelled = await service.request("POST", f"/audits/{audit['id']}/cancel")
    assert (status, cancelled["status"]) == (200, "cancelled"), cancelled

    status, body = await service.request("POST", f"/audits/{audit['id']}/cancel")
    assert_error(status, body, 409, "audit_ended")
    await asyncio.sleep(0)  # the task's cancel runs
    status, still = await service.request("GET", f"/audits/{audit['id']}")
    assert (status, still["status"], still["verdict"]) == (200, "cancelled", None)
    assert audit_calls == 2
    # The answered call is counted and priced (the fake's usage: 100 in, 20 out); the held
    # one never answered, so it has no usage to count.
    assert (still["calls"], still["input_tokens"], still["output_tokens"]) == (1, 100, 20)
    assert still["cost"]["total"] == pytest.approx((100 * 2.0 + 20 * 8.0) / 1e6)


async def test_an_audit_left_running_is_finished_at_the_next_start(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    held = asyncio.Event()
    hold = True

    async def respond(prompt: str, call_no: int) -> web.Response:
        if hold and held.is_set():
            await asyncio.Event().wait()  # the first process's audit call hangs
        return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))

    provider = await fake_provider(respond)
    first = await services.start()
    judge = await create_judge(first, provider.base_url, batch_size=3, concurrency=1)
    evaluation = await create_evaluation(first, queries=2, per_query=3)
    run = await wait_until_ended(
        first, (await start_run(first, evaluation["id"], judge["id"]))["id"]
    )
    held.set()
    status, audit = await first.request(
        "POST", f"/ai-judging-runs/{run['id']}/audits", json={"sample_size": 6, "seed": 2}
    )
    assert status == 201, audit

    async def running() -> bool:
        _, body = await first.request("GET", f"/audits/{audit['id']}")
        return bool(body["status"] == "running")

    await wait_for(running, timeout=10.0)
    await first.stop()
    hold = False

    second = await services.start()
    result: dict[str, Any] = {}

    async def ended() -> bool:
        _, body = await second.request("GET", f"/audits/{audit['id']}")
        result.update(body)
        return body["status"] not in ("queued", "running")

    await wait_for(ended, timeout=30.0)
    assert (result["status"], result["verdict"]) == ("completed", "consistent"), result
    assert result["repeat"]["exact"] == 1.0 and result["sample_size"] == 6


async def test_bad_requests_are_404_and_422(service: Service, sim_port: int) -> None:
    status, body = await service.request(
        "POST", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/audits", json={}
    )
    assert_error(status, body, 404, "not_found")
    status, body = await service.request("GET", "/audits/not-an-id")
    assert_error(status, body, 404, "not_found")
    status, body = await service.request(
        "POST", "/audits/00000000-0000-0000-0000-000000000000/cancel"
    )
    assert_error(status, body, 404, "not_found")

    run = await judged_run(
        service, f"http://127.0.0.1:{sim_port}/v1", model="steady-model", queries=1, per_query=3
    )
    for bad in ({"sample_size": 1}, {"sample_size": "many"}, {"seed": -1}, {"extra": 1}):
        status, body = await service.request(
            "POST", f"/ai-judging-runs/{run['id']}/audits", json=bad
        )
        assert_error(status, body, 422, "validation_error")


async def test_a_run_that_judged_nothing_cannot_be_audited(service: Service) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1", max_retries=0)
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    started = await start_run(service, evaluation["id"], judge["id"], reuse="none")
    run = await wait_until_ended(service, started["id"])
    assert run["judged"] == 0, run

    status, body = await service.request(
        "POST", f"/ai-judging-runs/{run['id']}/audits", json={"sample_size": 2}
    )

    error = assert_error(status, body, 409, "nothing_to_audit")
    assert "judged no candidate" in error["message"]
