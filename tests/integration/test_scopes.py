"""Filling the gaps: judging runs over the unjudged or the failed candidates only."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.reviewing import query_of, start_scoped
from tests.support.service import Service, ServiceFactory, wait_until_idle
from tests.support.waiting import wait_for


async def _estimate(service: Service, evaluation_id: str, judge_id: str, scope: str) -> int:
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation_id}/ai-judge/estimate",
        json={"ai_judge_id": judge_id, "scope": scope},
    )
    assert status == 200, body
    candidates: int = body["candidates"]
    return candidates


async def test_unjudged_scope_fills_in_what_a_cancelled_run_left(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    release = asyncio.Event()

    async def third_call_held(prompt: str, call_no: int) -> web.Response:
        if call_no >= 3:
            await release.wait()
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}))

    provider = await fake_provider(third_call_held)
    try:
        service = await services.start()
        evaluation = await create_evaluation(service, queries=4, per_query=3)
        judge = await create_judge(service, provider.base_url, batch_size=3, concurrency=1)
        first = await start_run(service, evaluation["id"], judge["id"])
        assert first["scope"] == "all"

        async def third_in_flight() -> bool:
            return provider.in_flight == 1 and len(provider.calls) == 3

        await wait_for(third_in_flight)
        status, _ = await service.request("POST", f"/ai-judging-runs/{first['id']}/cancel")
        assert status == 200
        release.set()
        await wait_until_idle(service)
        # q1, q2 and q3 were judged (the third call was in flight and still wrote); q4 not.
        assert await _estimate(service, evaluation["id"], judge["id"], "unjudged") == 3

        calls_before = len(provider.calls)
        second = await start_scoped(service, evaluation["id"], judge["id"], "unjudged")
        assert (second["scope"], second["total"]) == ("unjudged", 3)
        final = await wait_until_ended(service, second["id"])
    finally:
        release.set()
    assert final["status"] == "completed"
    assert (final["judged"], final["failed"], final["total"]) == (3, 0, 3)
    asked = [query_of(c.prompt) for c in provider.calls[calls_before:]]
    assert asked == ["query number 4"]
    assert await _estimate(service, evaluation["id"], judge["id"], "unjudged") == 0
    current = await db.fetchval(
        "SELECT count(*) FROM ai_judgments WHERE evaluation_run_id = $1::uuid", evaluation["id"]
    )
    assert current == 12


async def test_failed_scope_retries_the_candidates_whose_last_attempt_failed(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    failing: set[str] = {"query number 1"}

    async def fails_some_queries(prompt: str, call_no: int) -> web.Response:
        if query_of(prompt) in failing:
            return completion("I cannot judge these.")  # no <candidate> blocks
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}))

    provider = await fake_provider(fails_some_queries)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=3, per_query=2)
    eval_id = evaluation["id"]
    judge = await create_judge(service, provider.base_url, batch_size=2, concurrency=1)
    first = await wait_until_ended(service, (await start_run(service, eval_id, judge["id"]))["id"])
    assert (first["judged"], first["failed"]) == (4, 2)
    assert await _estimate(service, eval_id, judge["id"], "failed") == 2

    # Retrying the failures: only q1 is asked again.
    failing.clear()
    before = len(provider.calls)
    retry = await start_scoped(service, eval_id, judge["id"], "failed")
    assert (retry["scope"], retry["total"]) == ("failed", 2)
    retry = await wait_until_ended(service, retry["id"])
    assert (retry["status"], retry["judged"], retry["failed"]) == ("completed", 2, 0)
    assert [query_of(c.prompt) for c in provider.calls[before:]] == ["query number 1"]
    assert await _estimate(service, eval_id, judge["id"], "failed") == 0

    # A later run that fails q2, judged before: q2's last attempt failed, so it is in
    # the failed scope even though it still has a current judgment (the first run's).
    failing.add("query number 2")
    # Asked again (reuse would answer every candidate from the runs before).
    third = await start_scoped(service, eval_id, judge["id"], "all", reuse="none")
    third = await wait_until_ended(service, third["id"])
    assert (third["judged"], third["failed"]) == (4, 2)
    assert await _estimate(service, eval_id, judge["id"], "failed") == 2
    assert await _estimate(service, eval_id, judge["id"], "unjudged") == 0

    failing.clear()
    before = len(provider.calls)
    # Asked again too: with reuse, the first run's judgments of q2 would answer them.
    fourth = await start_scoped(service, eval_id, judge["id"], "failed", reuse="none")
    fourth = await wait_until_ended(service, fourth["id"])
    assert (fourth["total"], fourth["judged"]) == (2, 2)
    assert [query_of(c.prompt) for c in provider.calls[before:]] == ["query number 2"]

    # Nothing left that failed: the run completes at once, without a provider call.
    before = len(provider.calls)
    empty = await start_scoped(service, eval_id, judge["id"], "failed")
    assert empty["total"] == 0
    empty = await wait_until_ended(service, empty["id"])
    assert (empty["status"], empty["judged"], empty["failed"], empty["progress"]) == (
        "completed",
        0,
        0,
        1.0,
    )
    assert len(provider.calls) == before
    stored = await db.fetchval(
        "SELECT scope FROM ai_judging_runs WHERE id = $1::uuid", fourth["id"]
    )
    assert stored == "failed"


async def test_a_resumed_run_keeps_its_scope(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    never = asyncio.Event()
    mode = {"fail_odd_queries": True, "stall_after": 0}

    async def respond(prompt: str, call_no: int) -> web.Response:
        if mode["fail_odd_queries"]:
            number = int(query_of(prompt).rsplit(" ", 1)[1])
            if number % 2:
                return completion("")
            return completion(blocks({cid: 1 for cid in document_ids(prompt)}))
        if mode["stall_after"] and call_no > mode["stall_after"]:
            await never.wait()
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}))

    provider = await fake_provider(respond)
    try:
        first = await services.start(shutdown_grace_s=0.2)
        evaluation = await create_evaluation(first, queries=6, per_query=2)
        judge = await create_judge(first, provider.base_url, batch_size=1, concurrency=1)
        seed = await wait_until_ended(
            first, (await start_run(first, evaluation["id"], judge["id"]))["id"]
        )
        assert (seed["judged"], seed["failed"]) == (6, 6)  # queries 1, 3, 5 failed

        mode.update(fail_odd_queries=False, stall_after=len(provider.calls) + 2)
        run = await start_scoped(first, evaluation["id"], judge["id"], "failed")
        assert run["total"] == 6

        async def stalled() -> bool:
            _, body = await first.request("GET", f"/ai-judging-runs/{run['id']}")
            return bool(body["judged"] == 2 and provider.in_flight == 1)

        await wait_for(stalled)
        await first.stop()
        mode["stall_after"] = 0
        calls_before = len(provider.calls)
        second = await services.start()
        final = await wait_until_ended(second, run["id"])
    finally:
        never.set()
    assert (final["status"], final["scope"]) == ("completed", "failed")
    assert (final["judged"], final["failed"], final["total"]) == (6, 0, 6)
    asked = {query_of(c.prompt) for c in provider.calls[calls_before:]}
    assert asked <= {"query number 1", "query number 3", "query number 5"}
    assert len(provider.calls) - calls_before == 4
    grades = await db.fetch(
        """SELECT c.query_id, j.grade FROM ai_run_judgments j JOIN candidates c
           ON c.id = j.candidate_id WHERE j.ai_judging_run_id = $1::uuid""",
        run["id"],
    )
    assert sorted(r["query_id"] for r in grades) == ["q1", "q1", "q3", "q3", "q5", "q5"]


async def test_an_unknown_scope_is_refused(services: ServiceFactory) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    for scope in ["everything", "", None, 1]:
        status, body = await service.request(
            "POST",
            f"/evaluations/runs/{evaluation['id']}/ai-judge",
            json={"ai_judge_id": judge["id"], "scope": scope},
        )
        assert_error(status, body, 422, "validation_error")
    status, runs = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert runs["items"] == []
