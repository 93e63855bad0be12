"""A batch-delivery run survives SIGKILL and SIGTERM without ever submitting a provider
batch twice: the service runs as a real process on a real PostgreSQL, the provider is the
simulator (OpenAI Batch and Anthropic Message Batches) on loopback, behind a proxy that can
lose the answer to a batch submission (the provider made the batch; the service never
heard)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from releval_judge.sim import SimConfig, build_app
from tests.support.api import wait_until_ended
from tests.support.process import ServiceProcess, ServiceProcesses
from tests.support.runs import FAST_LEASES, check_invariants
from tests.support.servers import LocalServers, serve_on_loopback
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


class LosingProxy:
    """Forwards everything to the simulator; with `lose_submissions` set, a batch
    submission reaches the provider but its answer never comes back."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lose_submissions = False
        self.lost = 0
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._client: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with self._client.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "application/json")
        submission = request.method == "POST" and request.path in (
            "/v1/batches",
            "/v1/messages/batches",
        )
        if submission and self.lose_submissions:
            self.lost += 1
            await asyncio.sleep(3600)  # the answer is lost: the service waits in vain
        return web.Response(body=payload, status=status, headers={"Content-Type": content_type})

    async def start(self) -> LosingProxy:
        self._client = aiohttp.ClientSession()
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner, self.port = await serve_on_loopback(app, shutdown_timeout=0.2)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self._client is not None:
            await self._client.close()


# Batches complete 3 s after their submission.
SIM = SimConfig(latency_ms=0, seed=3, batch_completion_s=3.0)


@pytest.fixture
async def sim(local_servers: LocalServers) -> int:
    """The simulator's port (`SIM`)."""
    return await local_servers.sim(SIM)


class HeldClock:
    """The simulator's clock: it stands still until `go()`, so that a batch created
    meanwhile neither runs a request nor ends, however long the test takes; then it is
    the wall clock again (the batch's time has passed while it stood)."""

    def __init__(self) -> None:
        self.held_at: float | None = time.time()

    def __call__(self) -> float:
        return self.held_at if self.held_at is not None else time.time()

    def go(self) -> None:
        self.held_at = None


async def sim_get(port: int, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return await resp.json()


def evaluation() -> dict[str, Any]:
    return {
        "name": "batch crash",
        "scale": {"min": 0, "max": 3},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query {q}",
                "candidates": [
                    {"doc_id": f"d{q}-{r}", "rank": r, "title": f"t{q}-{r}", "text": "text"}
                    for r in range(1, 7)
                ],
            }
            for q in range(8)
        ],
    }


async def start_batch_run(service: ServiceProcess, base_url: str, provider: str) -> str:
    status, created = await service.request("POST", "/evaluations/runs", json=evaluation())
    assert status == 201, created
    status, judge = await service.request(
        "POST",
        "/ai-judges",
        json={
            "name": "batch judge",
            "provider": provider,
            "model": "gpt-4.1-mini" if provider == "openai" else "claude-x",
            "base_url": base_url,
            "batch_size": 3,
            "delivery": "batch",
        },
    )
    assert status == 201, judge
    status, run = await service.request(
        "POST", f"/evaluations/runs/{created['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run
    run_id: str = run["id"]
    return run_id


async def run_state(service: ServiceProcess, run_id: str) -> dict[str, Any]:
    status, body = await service.request("GET", f"/ai-judging-runs/{run_id}")
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def base_url(port: int, provider: str) -> str:
    return f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
async def test_a_restart_while_the_provider_works_resumes_polling_the_same_batch(
    db: asyncpg.Pool,
    processes: ServiceProcesses,
    local_servers: LocalServers,
    signal_name: str,
) -> None:
    # The batch ends only once the service has stopped: polling it to its end before the
    # signal (a slow machine) would leave nothing to resume.
    clock = HeldClock()
    port = await local_servers.serve(build_app(SIM, clock=clock))
    service = processes.new(env={"RELEVAL_BATCH_POLL_S": "0.2"})
    await service.start()
    run_id = await start_batch_run(service, base_url(port, "openai"), "openai")

    async def submitted() -> bool:
        batches = (await run_state(service, run_id))["provider_batches"]
        return bool(batches) and batches[0]["id"] is not None

    await wait_for(submitted, timeout=30)
    if signal_name == "SIGKILL":
        service.kill()
        await service.wait()
    else:
        assert await service.terminate() == 0
    await check_invariants(db, run_id)
    status = await db.fetchval("SELECT status FROM ai_judging_runs WHERE id = $1::uuid", run_id)
    assert status == "running"  # its batch still at the provider: there is something to resume
    clock.go()
    await service.start()
    end = await wait_until_ended(service, run_id, timeout=90)

    assert (end["status"], end["judged"], end["failed"]) == ("completed", 48, 0)
    await check_invariants(db, run_id)
    stats = await sim_get(port, "/stats")
    assert (stats["batches_created"], stats["batch_requests"]) == (1, 16)
    assert len(end["provider_batches"]) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_submission_whose_answer_was_lost_is_found_not_submitted_again(
    db: asyncpg.Pool,
    processes: ServiceProcesses,
    local_servers: LocalServers,
    sim: int,
    provider: str,
) -> None:
    port = sim
    proxy = await local_servers.start(LosingProxy(f"http://127.0.0.1:{port}"))
    service = processes.new(env={"RELEVAL_BATCH_POLL_S": "0.2"})
    proxy.lose_submissions = True
    await service.start()
    run_id = await start_batch_run(service, base_url(proxy.port, provider), provider)

    async def lost() -> bool:
        return proxy.lost == 1

    await wait_for(lost, timeout=30)
    # The provider has the batch; the service has only its 'submitting' row.
    [row] = await db.fetch(
        "SELECT state, provider_batch_id FROM provider_batches WHERE judging_run_id = $1::uuid",
        run_id,
    )
    assert (row["state"], row["provider_batch_id"]) == ("submitting", None)
    service.kill()
    await service.wait()
    proxy.lose_submissions = False
    await service.start()
    end = await wait_until_ended(service, run_id, timeout=90)

    assert (end["status"], end["judged"], end["failed"]) == ("completed", 48, 0)
    stats = await sim_get(port, "/stats")
    assert stats["batches_created"] == 1
    await check_invariants(db, run_id)


@pytest.mark.usefixtures("no_active_runs")  # another's run would be claimed too
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_killed_replicas_batch_run_is_taken_over_and_the_same_batch_polled(
    db: asyncpg.Pool,
    processes: ServiceProcesses,
    local_servers: LocalServers,
    provider: str,
) -> None:
    # The batch ends only once A is dead: A polling it to its end first (a slow start of B
    # on a loaded machine) would leave nothing for B to take over.
    clock = HeldClock()
    port = await local_servers.serve(build_app(SIM, clock=clock))
    fast = {**FAST_LEASES, "RELEVAL_BATCH_POLL_S": "0.2"}
    a = processes.new("a", env=fast)
    b = processes.new("b", env=fast)
    await a.start()
    run_id = await start_batch_run(a, base_url(port, provider), provider)

    async def submitted() -> bool:
        batches = (await run_state(a, run_id))["provider_batches"]
        return bool(batches) and batches[0]["id"] is not None

    await wait_for(submitted, timeout=30)
    await b.start()
    a.kill()
    await a.wait()
    clock.go()
    end = await wait_until_ended(b, run_id, timeout=90)

    assert (end["status"], end["judged"], end["failed"]) == ("completed", 48, 0)
    await check_invariants(db, run_id)
    stats = await sim_get(port, "/stats")
    assert stats["batches_created"] == 1  # B polled A's batch; it never submitted its own
    assert len(end["provider_batches"]) == 1
    claimed_by_b = [
        line for line in b.logs().splitlines() if '"judging_run_claimed"' in line and run_id in line
    ]
    assert claimed_by_b
