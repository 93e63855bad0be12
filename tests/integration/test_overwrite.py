"""One AI judgment per candidate: the later-created run wins, whichever call ends last."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.service import ServiceFactory
from tests.support.waiting import wait_for


async def test_later_run_wins_even_when_the_earlier_runs_calls_finish_last(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    release_first = asyncio.Event()

    async def slow_first(prompt: str, call_no: int) -> web.Response:
        await release_first.wait()
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}, "first"))

    async def quick_second(prompt: str, call_no: int) -> web.Response:
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}, "second"))

    first_provider = await fake_provider(slow_first)
    second_provider = await fake_provider(quick_second)
    try:
        service = await services.start()
        evaluation = await create_evaluation(service, queries=2, per_query=3)
        first_judge = await create_judge(
            service, first_provider.base_url, name="first judge", batch_size=3, concurrency=2
        )
        second_judge = await create_judge(
            service, second_provider.base_url, name="second judge", batch_size=3, concurrency=2
        )
        first = await start_run(service, evaluation["id"], first_judge["id"])

        async def first_in_flight() -> bool:
            return first_provider.in_flight == 2

        await wait_for(first_in_flight)
        second = await start_run(service, evaluation["id"], second_judge["id"])
        second_final = await wait_until_ended(service, second["id"])
        assert second_final["status"] == "completed"
        release_first.set()
        first_final = await wait_until_ended(service, first["id"])
    finally:
        release_first.set()
    assert first_final["status"] == "completed"
    assert first_final["judged"] == 6  # the earlier run still counts what it judged

    status, page = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments", params={"limit": "100"}
    )
    assert status == 200
    assert len(page["items"]) == 6  # one current AI judgment per candidate
    assert {j["judge"] for j in page["items"]} == {"second judge"}
    assert {j["grade"] for j in page["items"]} == {3}
    assert {j["ai_judging_run_id"] for j in page["items"]} == {second["id"]}
    # The earlier run's set is kept, not lost.
    kept = await db.fetchval(
        "SELECT count(*) FROM ai_run_judgments WHERE ai_judging_run_id = $1::uuid", first["id"]
    )
    assert kept == 6

    status, runs = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert [r["id"] for r in runs["items"]] == [second["id"], first["id"]]  # newest first


async def test_a_later_run_overwrites_an_earlier_completed_one(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    async def grade_zero(prompt: str, call_no: int) -> web.Response:
        return completion(blocks({cid: 0 for cid in document_ids(prompt)}))

    provider_a = await fake_provider(grade_zero)
    provider_b = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=4)
    judge_a = await create_judge(service, provider_a.base_url, name="a")
    judge_b = await create_judge(service, provider_b.base_url, name="b")
    run_a = await start_run(service, evaluation["id"], judge_a["id"])
    await wait_until_ended(service, run_a["id"])
    run_b = await start_run(service, evaluation["id"], judge_b["id"])
    await wait_until_ended(service, run_b["id"])
    _, page = await service.request("GET", f"/evaluations/runs/{evaluation['id']}/judgments")
    assert [(j["judge"], j["grade"]) for j in page["items"]] == [("b", 2)] * 4
    _, only_a = await service.request(
        "GET",
        f"/evaluations/runs/{evaluation['id']}/judgments",
        params={"ai_judging_run_id": run_a["id"]},
    )
    assert only_a["items"] == []
