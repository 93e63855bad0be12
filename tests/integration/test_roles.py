"""Roles: an `api` replica never judges (a run it queues waits for a worker); a `worker`
replica judges and answers only health and metrics."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.fakes import FakeProvider
from tests.integration.test_replicas import (
    events,
    start_judging,
    until_completed,
)
from tests.process import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]


async def test_an_api_replica_queues_and_a_worker_judges(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    provider = await FakeProvider().start()
    api = ServiceProcess(database_url, tmp_path / "api", env={"RELEVAL_ROLE": "api"})
    worker = ServiceProcess(database_url, tmp_path / "worker", serve_args=["--role", "worker"])
    api.data_dir.mkdir()
    worker.data_dir.mkdir()
    answers: dict[str, int] = {}
    try:
        await api.start()
        run = await start_judging(api, provider, 40)
        _, queued = await api.request("GET", f"/ai-judging-runs/{run['id']}")
        await worker.start()
        final = await until_completed(api, run["id"])
        async with aiohttp.ClientSession() as client:
            for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/ui/"):
                async with client.get(f"http://127.0.0.1:{worker.port}{path}") as resp:
                    answers[path] = resp.status
        status, _ = await worker.request("GET", "/ai-judges")
        answers["/api/v1/ai-judges"] = status
    finally:
        await api.stop()
        await worker.stop()
        await provider.stop()
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
