"""GET /evaluations/runs/{id}/judgments/sample: random spot checks, repeatable by seed."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support.api import assert_error, create_evaluation
from tests.support.fakes import FakeProviders
from tests.support.reviewing import candidate_ids, grade_by_rank, judge_with, put_human
from tests.support.service import Service, ServiceFactory


async def _sample(service: Service, evaluation_id: str, **params: Any) -> tuple[int, Any]:
    return await service.request(
        "GET",
        f"/evaluations/runs/{evaluation_id}/judgments/sample",
        params={k: str(v) for k, v in params.items()},
    )


async def test_a_sample_is_random_repeatable_and_carries_reasoning_and_judge(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(grade_by_rank)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=10, per_query=4)
    _, run = await judge_with(service, provider, evaluation["id"], name="ranker", batch_size=4)
    eval_id = evaluation["id"]
    ids = await candidate_ids(db, eval_id)
    for doc in ["d1-1", "d2-2", "d3-3"]:
        assert (await put_human(service, eval_id, ids[doc], "alice", 1, "looks off"))[0] == 200

    status, first = await _sample(service, eval_id, n=8, seed=7)
    assert status == 200, first
    assert first["seed"] == 7
    items = first["items"]
    assert len(items) == 8
    assert len({(i["candidate_id"], i["source"], i["judge"]) for i in items}) == 8
    for item in items:
        assert item["reasoning"]
        assert item["judge"] in ("ranker", "alice")
        assert (item["ai_judging_run_id"] is not None) == (item["source"] == "ai")
    assert [(i["query_id"], i["rank"]) for i in items] == sorted(
        (i["query_id"], i["rank"]) for i in items
    )

    _, again = await _sample(service, eval_id, n=8, seed=7)
    assert again == first
    others = [(await _sample(service, eval_id, n=8, seed=s))[1]["items"] for s in range(1, 6)]
    assert any(o != items for o in others), "five other seeds drew the very same sample"

    status, unseeded = await _sample(service, eval_id, n=3)
    assert status == 200 and isinstance(unseeded["seed"], int)
    assert (await _sample(service, eval_id, n=3, seed=unseeded["seed"]))[1] == unseeded

    _, humans = await _sample(service, eval_id, n=50, source="human")
    assert sorted(i["doc_id"] for i in humans["items"]) == ["d1-1", "d2-2", "d3-3"]
    assert {(i["judge"], i["reasoning"]) for i in humans["items"]} == {("alice", "looks off")}
    _, everything = await _sample(service, eval_id, n=1000, source="ai")
    assert len(everything["items"]) == 40
    assert {i["ai_judging_run_id"] for i in everything["items"]} == {run["id"]}


async def test_bad_sample_parameters(service: Service) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    cases: list[dict[str, Any]] = [
        {"n": 0},
        {"n": 1001},
        {"n": "many"},
        {"seed": -1},
        {"seed": 2**60},
        {"source": "robot"},
        {"limit": 5},
    ]
    for params in cases:
        status, body = await _sample(service, evaluation["id"], **params)
        assert_error(status, body, 422, "validation_error")
    status, body = await _sample(service, "00000000-0000-0000-0000-000000000000")
    assert_error(status, body, 404, "not_found")
    status, empty = await _sample(service, evaluation["id"])
    assert status == 200 and empty["items"] == []
