"""GET /evaluations/runs/{id}/judgments: filters, sort, cursor pagination."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from tests.support.api import create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.reviewing import JUDGMENT_FIELDS
from tests.support.service import Service, ServiceFactory


async def grade_by_rank(prompt: str, call_no: int) -> web.Response:
    # Candidates arrive in rank order: grade 3 for rank 1 down to 0 for rank 4+.
    ids = document_ids(prompt)
    return completion(blocks({cid: max(0, 4 - int(cid)) for cid in ids}))


async def judged_run(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> tuple[Service, str, str]:
    provider = await fake_provider(grade_by_rank)
    service = await services.start()
    body = {
        "name": "listing",
        "scale": {"min": 0, "max": 3, "labels": {"0": "bad", "3": "perfect"}},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query {q}",
                "candidates": [{"doc_id": f"d{q}-{r}", "rank": r} for r in range(1, 6)],
            }
            for q in range(1, 5)
        ],
    }
    status, evaluation = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201
    judge = await create_judge(service, provider.base_url, batch_size=5, name="lister")
    run = await start_run(service, evaluation["id"], judge["id"])
    assert (await wait_until_ended(service, run["id"]))["status"] == "completed"
    # Two human judgments on q1, written directly (their REST route has tests of its own).
    await db.execute(
        """INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade, reasoning)
           SELECT id, evaluation_run_id, 'alice', 2, 'human view' FROM candidates
           WHERE evaluation_run_id = $1::uuid AND query_id = 'q1' AND rank <= 2""",
        evaluation["id"],
    )
    return service, evaluation["id"], run["id"]


async def listing(service: Service, run_id: str, **params: Any) -> dict[str, Any]:
    status, body = await service.request(
        "GET",
        f"/evaluations/runs/{run_id}/judgments",
        params={k: str(v) for k, v in params.items()},
    )
    assert status == 200, body
    result: dict[str, Any] = body
    return result


async def test_filters_sort_and_pages(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, run_id, judging_run_id = await judged_run(services, db, fake_provider)

    everything = await listing(service, run_id, limit=1000)
    assert len(everything["items"]) == 22  # 20 AI + 2 human
    assert everything["next_cursor"] is None
    item = everything["items"][0]
    assert set(item) == set(JUDGMENT_FIELDS)

    ai = await listing(service, run_id, source="ai", limit=1000)
    assert {j["source"] for j in ai["items"]} == {"ai"}
    assert {j["judge"] for j in ai["items"]} == {"lister"}
    human = await listing(service, run_id, source="human")
    assert [(j["judge"], j["grade"], j["ai_judging_run_id"]) for j in human["items"]] == [
        ("alice", 2, None),
        ("alice", 2, None),
    ]

    perfect = await listing(service, run_id, grade=3, source="ai")
    assert len(perfect["items"]) == 4
    assert {(j["rank"], j["label"]) for j in perfect["items"]} == {(1, "perfect")}
    mid = await listing(service, run_id, min_grade=1, max_grade=2, source="ai")
    assert sorted({j["grade"] for j in mid["items"]}) == [1, 2]
    # "not relevant at the top of the result list"
    top_bad = await listing(service, run_id, max_grade=0, max_rank=4, sort="rank")
    assert [(j["rank"], j["grade"]) for j in top_bad["items"]] == [(4, 0)] * 4
    q2 = await listing(service, run_id, query_id="q2")
    assert {j["query_id"] for j in q2["items"]} == {"q2"}
    assert q2["items"][0]["query"] == "query 2"
    by_run = await listing(service, run_id, ai_judging_run_id=judging_run_id)
    assert len(by_run["items"]) == 20

    # "highly relevant first", walked page by page with the cursor.
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "-grade,rank", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await listing(service, run_id, **params)
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 22
    assert len({(j["candidate_id"], j["source"], j["judge"]) for j in seen}) == 22
    keys = [(-j["grade"], j["rank"]) for j in seen]
    assert keys == sorted(keys)


async def test_bad_listing_parameters_are_422_or_404(service: Service) -> None:
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "x", "scale": {"min": 0, "max": 1}}
    )
    assert status == 201
    base = f"/evaluations/runs/{evaluation['id']}/judgments"
    for params in [
        {"sort": "-nonsense"},
        {"sort": "grade,grade"},
        {"cursor": "%%%"},
        {"cursor": "WzEsMl0"},
        {"limit": "0"},
        {"limit": "1001"},
        {"grade": "high"},
        {"source": "robot"},
        {"unknown": "1"},
    ]:
        status, body = await service.request("GET", base, params=params)
        assert status == 422, (params, body)
        assert body["error"]["code"] == "validation_error"
    status, body = await service.request(
        "GET", "/evaluations/runs/00000000-0000-0000-0000-000000000000/judgments"
    )
    assert status == 404
    status, body = await service.request("GET", base, params={"ai_judging_run_id": "nope"})
    assert status == 404
