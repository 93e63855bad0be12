"""SIGTERM: calls in flight finish and are written, the process exits 0, the run resumes."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp import web

from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.process import ServiceProcesses, events
from tests.support.runs import check_invariants, start_judging
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


async def test_sigterm_finishes_calls_in_flight_and_the_run_resumes(
    db: asyncpg.Pool, processes: ServiceProcesses, fake_provider: FakeProviders
) -> None:
    answered = 0

    async def slow(prompt: str, call_no: int) -> web.Response:
        nonlocal answered
        await asyncio.sleep(0.3)
        answered += 1
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}))

    provider = await fake_provider(slow)
    service = processes.new(env={"RELEVAL_SHUTDOWN_GRACE_S": "10"})
    await service.start()
    run = await start_judging(service, provider, 60, name="slow judge", batch_size=2, concurrency=3)

    async def busy() -> bool:
        return answered >= 3 and provider.in_flight == 3

    await wait_for(busy)
    code = await service.terminate()
    calls_at_exit = len(provider.calls)
    row = await check_invariants(db, run["id"])
    assert code == 0
    assert row["status"] == "running"  # paused, not failed or cancelled
    # Every call that started was answered and written before the exit.
    assert answered == calls_at_exit
    assert row["judged"] == 2 * calls_at_exit

    await service.start()

    async def ended() -> bool:
        _, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
        return bool(body["status"] == "completed")

    await wait_for(ended, timeout=60)
    row = await check_invariants(db, run["id"])
    assert (row["judged"], row["total"]) == (60, 60)
    assert len(provider.calls) == 30  # nothing was asked twice
    assert '"event": "judging_run_paused"' in service.logs()
    # Served as in production: on uvloop (a dependency, which uvicorn takes) both times.
    assert [e["event_loop"] for e in events(service, "service_started")] == ["uvloop", "uvloop"]
