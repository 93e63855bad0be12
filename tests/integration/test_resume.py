"""Restart: runs left running continue where they stopped; nothing is judged twice."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import (
    FakeProviders,
    blocks,
    completion,
    document_ids,
    grade_all_two,
)
from tests.support.service import ServiceFactory
from tests.support.waiting import wait_for


async def test_stopped_mid_run_the_run_resumes_and_judges_each_candidate_once(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    never = asyncio.Event()

    async def stalls_after_three(prompt: str, call_no: int) -> web.Response:
        if call_no > 3:
            await never.wait()
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}))

    provider = await fake_provider(stalls_after_three)
    try:
        first = await services.start(shutdown_grace_s=0.2)
        evaluation = await create_evaluation(first, queries=5, per_query=4)
        judge = await create_judge(first, provider.base_url, batch_size=2, concurrency=2)
        run = await start_run(first, evaluation["id"], judge["id"])

        async def stalled() -> bool:
            _, body = await first.request("GET", f"/ai-judging-runs/{run['id']}")
            return bool(body["judged"] == 6 and provider.in_flight == 2)

        await wait_for(stalled)
        await first.stop()  # the two stalled calls are abandoned after the grace period
        row = await db.fetchrow(
            "SELECT status, judged FROM ai_judging_runs WHERE id = $1::uuid", run["id"]
        )
        assert row is not None
        assert (row["status"], row["judged"]) == ("running", 6)

        calls_before_restart = len(provider.calls)
        provider.respond = grade_all_two
        second = await services.start()
        final = await wait_until_ended(second, run["id"])
    finally:
        never.set()
    assert final["status"] == "completed"
    assert (final["judged"], final["failed"], final["total"]) == (20, 0, 20)
    rows = await db.fetch(
        "SELECT candidate_id, grade FROM ai_run_judgments WHERE ai_judging_run_id = $1::uuid",
        run["id"],
    )
    assert len(rows) == 20  # counters equal rows, each candidate once
    assert sorted(r["grade"] for r in rows) == [1] * 6 + [2] * 14
    # Only what was left was asked for: 14 candidates in batches of 2.
    assert len(provider.calls) - calls_before_restart == 7


async def test_a_run_cancelled_before_a_restart_stays_cancelled(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    never = asyncio.Event()

    async def stall(prompt: str, call_no: int) -> web.Response:
        await never.wait()
        return completion("")

    provider = await fake_provider(stall)
    try:
        first = await services.start(shutdown_grace_s=0.1)
        evaluation = await create_evaluation(first, queries=2, per_query=2)
        judge = await create_judge(first, provider.base_url, batch_size=2, concurrency=1)
        run = await start_run(first, evaluation["id"], judge["id"])

        async def calling() -> bool:
            return provider.in_flight == 1

        await wait_for(calling)
        status, _ = await first.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
        assert status == 200
        await first.stop()
        calls = len(provider.calls)
        provider.respond = grade_all_two
        second = await services.start()
        status, body = await second.request("GET", f"/ai-judging-runs/{run['id']}")
    finally:
        never.set()
    assert body["status"] == "cancelled"
    assert len(provider.calls) == calls
