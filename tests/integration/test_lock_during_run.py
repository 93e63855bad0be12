"""Locking an evaluation run while a judging run writes to it: the lock wins."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.service import ServiceFactory
from tests.support.waiting import wait_for


async def test_a_run_that_meets_a_lock_fails_and_writes_nothing_after_it(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    gate = asyncio.Event()

    async def gated(prompt: str, call_no: int) -> web.Response:
        if call_no > 2:
            await gate.wait()
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    provider = await fake_provider(gated)
    try:
        service = await services.start()
        evaluation = await create_evaluation(service, queries=6, per_query=2)
        judge = await create_judge(service, provider.base_url, batch_size=2, concurrency=1)
        run = await start_run(service, evaluation["id"], judge["id"])

        async def two_written() -> bool:
            _, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
            return bool(body["judged"] == 4 and provider.in_flight == 1)

        await wait_for(two_written)
        status, locked = await service.request(
            "PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True}
        )
        assert status == 200 and locked["locked"] is True
        gate.set()
        final = await wait_until_ended(service, run["id"])
    finally:
        gate.set()
    assert final["status"] == "failed"
    assert "was locked" in final["error"]
    assert final["judged"] == 4
    assert final["partially_judged"] is True
    rows = await db.fetchval(
        "SELECT count(*) FROM ai_judgments WHERE evaluation_run_id = $1::uuid", evaluation["id"]
    )
    assert rows == 4
    # The call slot is freed when the provider answers, before the write meets the lock:
    # at most one more call is already on its way then, and nothing after that.
    assert len(provider.calls) <= 4
