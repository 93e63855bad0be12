"""PostgreSQL going away in the middle of a run: /readyz says so, the run waits and
continues, and no batch is half-written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from releval_judge.store.database import EmbeddedPostgres
from tests.conftest import ServiceFactory, wait_for
from tests.fakes import FakeProvider, blocks, completion, document_ids
from tests.integration.test_crash import check_invariants, evaluation

pytestmark = pytest.mark.slow


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(tmp_path / "own")
    await asyncio.to_thread(server.start)
    yield server
    server.stop()


def pg_ctl(server: EmbeddedPostgres, *args: str) -> None:
    from pgserver._commands import pg_ctl as run_pg_ctl  # type: ignore[attr-defined]

    handle: Any = server._server
    run_pg_ctl(list(args), pgdata=handle.pgdata, user=handle.system_user)


async def test_run_survives_a_postgres_restart(
    own_postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_postgres._server.get_uri()
    answered = 0

    async def slowish(prompt: str, call_no: int) -> web.Response:
        nonlocal answered
        await asyncio.sleep(0.1)
        answered += 1
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    provider = await FakeProvider(respond=slowish).start()
    services = ServiceFactory(url, tmp_path)
    service = await services.start()
    db = await asyncpg.connect(url)
    try:
        _, created = await service.request("POST", "/evaluations/runs", json=evaluation(80, 10))
        _, judge = await service.request(
            "POST",
            "/ai-judges",
            json={
                "name": "patient",
                "provider": "openai",
                "model": "m",
                "base_url": provider.base_url,
                "batch_size": 2,
                "concurrency": 2,
            },
        )
        _, run = await service.request(
            "POST",
            f"/evaluations/runs/{created['id']}/ai-judge",
            json={"ai_judge_id": judge["id"]},
        )

        async def some_done() -> bool:
            return answered >= 4

        await wait_for(some_done)
        await db.close()
        await asyncio.to_thread(pg_ctl, own_postgres, "-w", "stop", "-m", "fast")
        async with service.client.get(service.base_url + "/readyz") as resp:
            ready_status, ready = resp.status, await resp.json()
        await asyncio.sleep(1.5)  # the outage: batches answered now must wait to be written
        await asyncio.to_thread(own_postgres._server.ensure_postgres_running)

        async def completed() -> bool:
            async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}") as r:
                return r.status == 200 and (await r.json())["status"] == "completed"

        await wait_for(completed, timeout=90)
        async with service.client.get(service.base_url + "/readyz") as resp:
            ready_after = resp.status
        db = await asyncpg.connect(url)
        row = await check_invariants(db, run["id"])
    finally:
        await db.close()
        for started in services.started:
            await started.stop()
        await provider.stop()
    assert ready_status == 503
    assert ready["status"] == "unavailable"
    assert ready_after == 200
    assert (row["judged"], row["failed"], row["total"]) == (80, 0, 80)
    assert len(provider.calls) == 40  # no batch was asked twice
