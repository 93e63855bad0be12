"""Batch delivery (judge `delivery: "batch"`) against the simulator's OpenAI Batch and
Anthropic Message Batches APIs, over real HTTP, with a real PostgreSQL: the lifecycle,
progress from the provider's counts, per-candidate failures (an errored request, an
expired batch), run failures, cancel forwarded to the provider, the split at the
provider's limits, and the batch price."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from releval_judge.providers.batches import BatchLimits
from releval_judge.providers.batches.openai import OpenAIBatches
from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory, wait_until_idle
from tests.support.waiting import wait_for


class Sim:
    """The simulator on a loopback port, with its stats and batch listing."""

    def __init__(self, port: int) -> None:
        self.port = port

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{self.port}{path}") as resp,
        ):
            return await resp.json()

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/stats")
        return result

    async def batches(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.get("/sim/batches"))["data"]
        return result


StartSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
def start_sim(local_servers: LocalServers) -> StartSim:
    """``await start_sim(**config)``: a simulator with that config, stopped after the test."""

    async def start(**config: Any) -> Sim:
        return Sim(await local_servers.sim(SimConfig(latency_ms=0, seed=7, **config)))

    return start


async def batch_service(services: ServiceFactory) -> Service:
    return await services.start(batch_poll_s=0.1)


async def judge_for(service: Service, sim: Sim, provider: str, **fields: Any) -> dict[str, Any]:
    base_url = sim.openai_url if provider == "openai" else sim.anthropic_url
    return await create_judge(
        service,
        base_url,
        provider=provider,
        model=fields.pop("model", "gpt-4.1-mini" if provider == "openai" else "claude-x"),
        delivery="batch",
        **fields,
    )


async def run_batch(
    service: Service, judge: dict[str, Any], *, queries: int = 5, per_query: int = 6
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a run and follow it to its end; returns the end and every state polled."""
    created = await create_evaluation(service, queries=queries, per_query=per_query)
    run = await start_run(service, created["id"], judge["id"])
    seen: list[dict[str, Any]] = []

    async def ended() -> bool:
        status, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
        assert status == 200, body
        seen.append(body)
        return body["status"] not in ("queued", "running")

    await wait_for(ended, timeout=60)
    await wait_until_idle(service)
    return seen[-1], seen


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_batch_run_judges_everything_through_one_provider_batch_at_the_batch_price(
    services: ServiceFactory, start_sim: StartSim, provider: str
) -> None:
    sim = await start_sim(batch_completion_s=1.0)
    service = await batch_service(services)
    judge = await judge_for(
        service, sim, provider, input_price_per_mtok=2.0, output_price_per_mtok=8.0
    )

    end, seen = await run_batch(service, judge)

    assert (end["status"], end["judged"], end["failed"], end["total"]) == ("completed", 30, 0, 30)
    assert end["delivery"] == "batch"
    [batch] = end["provider_batches"]
    assert batch["id"].startswith("batch_" if provider == "openai" else "msgbatch_")
    assert batch["status"] == ("completed" if provider == "openai" else "ended")
    assert batch["requests"] == 10 and batch["results_read"] is True
    # While the provider worked the run was running and showed the provider's own counts.
    working = [s for s in seen if s["status"] == "running" and s["provider_batches"]]
    assert any(
        s["provider_batches"][0]["id"] == batch["id"] and s["provider_batches"][0]["request_counts"]
        for s in working
    ), working
    stats = await sim.stats()
    assert (stats["batches_created"], stats["batch_requests"]) == (1, 10)
    assert stats["files_uploaded"] == (1 if provider == "openai" else 0)
    # Every price halved (batch_price_factor 0.5).
    full = (end["input_tokens"] - end["cached_input_tokens"]) * 2.0 + end["output_tokens"] * 8.0
    assert end["cost"]["total"] == pytest.approx(full / 1e6 * 0.5, abs=1e-6)


async def test_a_request_the_provider_errored_becomes_failures_with_its_message(
    services: ServiceFactory, start_sim: StartSim, db: asyncpg.Pool
) -> None:
    sim = await start_sim(batch_completion_s=0.3, batch_request_error_every=4)
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai")

    end, _ = await run_batch(service, judge)

    # Requests 4 and 8 of 10 (3 candidates each) errored; the run still completes.
    assert (end["status"], end["judged"], end["failed"]) == ("completed", 24, 6)
    reasons = await db.fetch(
        "SELECT reason FROM candidate_failures WHERE ai_judging_run_id = $1::uuid", end["id"]
    )
    assert len(reasons) == 6
    assert all(r["reason"].startswith("the provider errored this request") for r in reasons)
    assert all("simulated" in r["reason"] for r in reasons), reasons[0]["reason"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_expired_batch_leaves_failures_for_what_it_did_not_run(
    services: ServiceFactory, start_sim: StartSim, db: asyncpg.Pool, provider: str
) -> None:
    sim = await start_sim(batch_completion_s=100.0, batch_expiry_s=0.5)
    service = await batch_service(services)
    judge = await judge_for(service, sim, provider)

    end, _ = await run_batch(service, judge)

    assert end["status"] == "completed"
    assert end["judged"] + end["failed"] == 30
    assert end["failed"] >= 27  # at most one request of ten ran before the expiry
    expired = await db.fetchval(
        "SELECT count(*) FROM candidate_failures WHERE ai_judging_run_id = $1::uuid "
        "AND reason LIKE '%expired%'",
        end["id"],
    )
    assert expired == end["failed"]
    assert end["provider_batches"][0]["status"] == ("expired" if provider == "openai" else "ended")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_cancel_is_forwarded_to_the_provider_and_returned_results_are_kept(
    services: ServiceFactory, start_sim: StartSim, provider: str
) -> None:
    sim = await start_sim(batch_completion_s=4.0, batch_cancel_s=0.2)
    service = await batch_service(services)
    judge = await judge_for(service, sim, provider)
    created = await create_evaluation(service, queries=5, per_query=6)
    run = await start_run(service, created["id"], judge["id"])

    async def some_ran() -> bool:
        batches = await sim.batches()
        return bool(batches) and batches[0]["ran"] >= 2

    await wait_for(some_ran, timeout=30)
    status, cancelled = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    await wait_until_idle(service)

    [batch] = await sim.batches()
    assert batch["cancel_requested"] is True
    assert (await sim.stats())["batches_cancelled"] == 1
    status, end = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert end["status"] == "cancelled"
    # What the provider had answered before the cancel was read and kept.
    assert end["judged"] == 3 * batch["succeeded"] and end["judged"] >= 6
    assert end["judged"] < 30


async def test_a_large_run_is_split_at_the_provider_limits(
    services: ServiceFactory, start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OpenAIBatches, "limits", BatchLimits(max_requests=4, max_bytes=10**9))
    sim = await start_sim(batch_completion_s=0.2)
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai")

    end, _ = await run_batch(service, judge)

    assert (end["status"], end["judged"]) == ("completed", 30)
    assert [b["requests"] for b in end["provider_batches"]] == [4, 4, 2]
    assert (await sim.stats())["batches_created"] == 3


async def test_a_reasoning_model_judge_with_default_settings_judges_everything_in_batch(
    services: ServiceFactory, start_sim: StartSim
) -> None:
    sim = await start_sim(batch_completion_s=0.2)
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai", model="o4-mini", max_output_tokens=3000)

    end, _ = await run_batch(service, judge)

    assert (end["status"], end["judged"], end["failed"]) == ("completed", 30, 0)


async def test_a_wrong_key_fails_the_batch_run_with_the_providers_message(
    services: ServiceFactory, start_sim: StartSim
) -> None:
    sim = await start_sim(api_key="sk-right")
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai", api_key="sk-wrong")

    end, _ = await run_batch(service, judge)

    assert end["status"] == "failed"
    assert "authentication failed (HTTP 401)" in end["error"]
    assert (end["judged"], end["failed"], end["provider_batches"]) == (0, 0, [])
    assert (await sim.stats())["batches_created"] == 0


async def test_an_unknown_model_fails_the_batch_run_instead_of_failing_every_candidate(
    services: ServiceFactory, start_sim: StartSim
) -> None:
    sim = await start_sim(batch_completion_s=0.2)
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai", model="missing-model")

    end, _ = await run_batch(service, judge)

    assert end["status"] == "failed"
    assert "not found" in end["error"] and "missing-model" in end["error"]
    assert end["failed"] == 0


async def test_max_cost_limits_what_a_batch_run_submits(
    services: ServiceFactory, start_sim: StartSim
) -> None:
    sim = await start_sim(batch_completion_s=0.2)
    service = await batch_service(services)
    judge = await judge_for(
        service,
        sim,
        "openai",
        input_price_per_mtok=10.0,
        output_price_per_mtok=40.0,
        # Above the simulator's answers (about 93 tokens for 3 candidates): a cap the
        # provider enforces is what makes the bound hold.
        max_output_tokens=150,
    )
    created = await create_evaluation(service, queries=5, per_query=6)
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{created['id']}/ai-judge",
        json={"ai_judge_id": judge["id"], "max_cost": 0.02},
    )
    assert status == 201, run
    end = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)

    assert end["status"] == "failed" and "cost limit reached" in end["error"]
    assert 0 < end["judged"] < 30
    assert end["cost"]["total"] <= 0.02
    [batch] = end["provider_batches"]
    assert batch["requests"] == end["judged"] // 3


async def test_a_lock_while_the_provider_works_fails_the_run_and_cancels_the_batch(
    services: ServiceFactory, start_sim: StartSim, db: asyncpg.Pool
) -> None:
    sim = await start_sim(batch_completion_s=1.5)
    service = await batch_service(services)
    judge = await judge_for(service, sim, "openai")
    created = await create_evaluation(service, queries=5, per_query=6)
    run = await start_run(service, created["id"], judge["id"])

    async def submitted() -> bool:
        return bool(await sim.batches())

    await wait_for(submitted, timeout=30)
    status, body = await service.request(
        "PATCH", f"/evaluations/runs/{created['id']}", json={"locked": True}
    )
    assert status == 200, body
    end = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)

    assert end["status"] == "failed" and "locked" in end["error"]
    assert end["judged"] == 0
    rows = await db.fetchval(
        "SELECT count(*) FROM ai_judgments WHERE evaluation_run_id = $1::uuid", created["id"]
    )
    assert rows == 0
    [batch] = await sim.batches()
    assert batch["cancel_requested"] is True or batch["status"] == "completed"


async def test_a_later_batch_run_overwrites_an_earlier_live_runs_judgments(
    services: ServiceFactory, start_sim: StartSim, db: asyncpg.Pool
) -> None:
    sim = await start_sim(batch_completion_s=0.3)
    service = await batch_service(services)
    live = await create_judge(service, sim.openai_url, name="live judge")
    batch = await judge_for(service, sim, "openai", name="batch judge")
    created = await create_evaluation(service, queries=2, per_query=3)

    first = await start_run(service, created["id"], live["id"])
    await wait_until_ended(service, first["id"])
    second = await start_run(service, created["id"], batch["id"])
    end = await wait_until_ended(service, second["id"])
    await wait_until_idle(service)

    assert end["status"] == "completed"
    judges = await db.fetch(
        "SELECT a.judge, count(*) FROM ai_judgments a WHERE a.evaluation_run_id = $1::uuid "
        "GROUP BY a.judge",
        created["id"],
    )
    assert [(r["judge"], r["count"]) for r in judges] == [("batch judge", 6)]
