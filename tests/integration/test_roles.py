"""Roles: an `api` replica never judges (a run it queues waits for a worker); a `worker`
replica judges and answers only health and metrics."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import wait_until_ended
from tests.support.fakes import FakeProviders
from tests.support.process import ServiceProcesses, events
from tests.support.runs import start_judging

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]


async def test_an_api_replica_queues_and_a_worker_judges(
    processes: ServiceProcesses, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    api = processes.new("api", env={"RELEVAL_ROLE": "api"})
    worker = processes.new("worker", serve_args=["--role", "worker"])
    answers: dict[str, int] = {}
    await api.start()
    run = await start_judging(api, provider, 40)
    _, queued = await api.request("GET", f"/ai-judging-runs/{run['id']}")
    await worker.start()
    final = await wait_until_ended(api, run["id"], timeout=120)
    async with aiohttp.ClientSession() as client:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/ui/"):
            async with client.get(f"http://127.0.0.1:{worker.port}{path}") as resp:
                answers[path] = resp.status
    status, _ = await worker.request("GET", "/ai-judges")
    answers["/api/v1/ai-judges"] = status
    assert queued["status"] == "queued"
    assert final["status"] == "completed" and final["judged"] == 40
    assert events(api, "judging_run_claimed") == []  # the API replica judged nothing
    assert [e["judging_run_id"] for e in events(worker, "judging_run_claimed")] == [run["id"]]
    assert answers == {
        "/healthz": 200,
        "/readyz": 200,
        "/metrics": 200,
        "/openapi.json": 404,
        "/ui/": 404,
        "/api/v1/ai-judges": 404,
    }
