"""PostgreSQL going away in the middle of a run: /readyz says so, the run waits and
continues, and no batch is half-written."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from aiohttp import web

from releval_judge.store.database import EmbeddedPostgres
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.runs import check_invariants, start_judging
from tests.support.service import ServiceFactory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test. Its
    folder is not under pytest's tmp_path, which other pytest processes may prune."""
    folder = Path(tempfile.mkdtemp(prefix="releval-own-pg-"))
    server = EmbeddedPostgres(folder)
    try:
        await asyncio.to_thread(server.start)
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def stop_postgres(server: EmbeddedPostgres) -> None:
    """A fast shutdown (SIGINT to the postmaster, as ``pg_ctl stop -m fast`` sends)."""
    handle: Any = server._server
    postmaster = psutil.Process(handle.get_pid())
    postmaster.send_signal(signal.SIGINT)
    await asyncio.to_thread(postmaster.wait, 30)


async def test_run_survives_a_postgres_restart(
    own_postgres: EmbeddedPostgres, tmp_path: Path, fake_provider: FakeProviders
) -> None:
    url = own_postgres._server.get_uri()
    answered = 0

    async def slowish(prompt: str, call_no: int) -> web.Response:
        nonlocal answered
        await asyncio.sleep(0.1)
        answered += 1
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    provider = await fake_provider(slowish)
    services = ServiceFactory(url, tmp_path)
    service = await services.start()
    db = await asyncpg.connect(url)
    try:
        run = await start_judging(
            service, provider, 80, name="patient", batch_size=2, concurrency=2
        )

        async def some_done() -> bool:
            return answered >= 4

        await wait_for(some_done)
        await db.close()
        await stop_postgres(own_postgres)
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
        await services.stop()
    assert ready_status == 503
    assert ready["status"] == "unavailable"
    assert ready_after == 200
    assert (row["judged"], row["failed"], row["total"]) == (80, 0, 80)
    assert len(provider.calls) == 40  # no batch was asked twice
