"""SIGTERM: calls in flight finish and are written, the process exits 0, the run resumes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from tests.conftest import wait_for
from tests.fakes import FakeProvider, blocks, completion, document_ids
from tests.integration.test_crash import check_invariants, evaluation
from tests.process import ServiceProcess

pytestmark = pytest.mark.slow


async def test_sigterm_finishes_calls_in_flight_and_the_run_resumes(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    answered = 0

    async def slow(prompt: str, call_no: int) -> web.Response:
        nonlocal answered
        await asyncio.sleep(0.3)
        answered += 1
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}))

    provider = await FakeProvider(respond=slow).start()
    service = ServiceProcess(database_url, tmp_path, env={"RELEVAL_SHUTDOWN_GRACE_S": "10"})
    try:
        await service.start()
        _, created = await service.request("POST", "/evaluations/runs", json=evaluation(60, 10))
        _, judge = await service.request(
            "POST",
            "/ai-judges",
            json={
                "name": "slow judge",
                "provider": "openai",
                "model": "m",
                "base_url": provider.base_url,
                "batch_size": 2,
                "concurrency": 3,
            },
        )
        _, run = await service.request(
            "POST",
            f"/evaluations/runs/{created['id']}/ai-judge",
            json={"ai_judge_id": judge["id"]},
        )

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
    finally:
        await service.stop()
        await provider.stop()
    row = await check_invariants(db, run["id"])
    assert (row["judged"], row["total"]) == (60, 60)
    assert len(provider.calls) == 30  # nothing was asked twice
    assert '"event": "judging_run_paused"' in service.logs()
