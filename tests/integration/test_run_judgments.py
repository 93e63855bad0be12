"""Nothing overwritten is lost: every judgment a run produced, current or not."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.support.api import assert_error, create_evaluation
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.reviewing import JUDGMENT_FIELDS, judge_with, query_of
from tests.support.service import Service, ServiceFactory


async def _all_pages(service: Service, judging_run_id: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        status, page = await service.request(
            "GET", f"/ai-judging-runs/{judging_run_id}/judgments", params=params
        )
        assert status == 200, page
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_a_runs_judgments_stay_listed_after_a_later_run_overwrites_them(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    async def first_grades(prompt: str, call_no: int) -> web.Response:
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}, "first"))

    async def second_skips_q1(prompt: str, call_no: int) -> web.Response:
        if query_of(prompt) == "query number 1":
            return completion("no blocks")
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}, "second"))

    first_provider = await fake_provider(first_grades)
    second_provider = await fake_provider(second_skips_q1)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=3, per_query=3)
    _, first = await judge_with(
        service, first_provider, evaluation["id"], name="first judge", batch_size=3
    )
    _, second = await judge_with(
        service, second_provider, evaluation["id"], name="second judge", batch_size=3
    )
    assert (first["judged"], second["judged"], second["failed"]) == (9, 6, 3)

    history = await _all_pages(service, first["id"], limit=4)
    assert len(history) == 9
    assert [(j["query_id"], j["rank"]) for j in history] == [
        (f"q{q}", r) for q in range(1, 4) for r in range(1, 4)
    ]
    assert {(j["judge"], j["grade"], j["source"], j["ai_judging_run_id"]) for j in history} == {
        ("first judge", 1, "ai", first["id"])
    }
    assert all(j["reasoning"].startswith("first") for j in history)
    # q1 kept the first run's judgment (the second run failed it); q2 and q3 were replaced.
    assert {j["query_id"]: j["current"] for j in history} == {"q1": True, "q2": False, "q3": False}
    assert set(history[0]) == {*JUDGMENT_FIELDS, "current", "reused_from"}
    assert all(j["reused_from"] is None for j in history)
    assert history[0]["label"] is None and history[0]["query"] == "query number 1"

    latest = await _all_pages(service, second["id"], limit=1000)
    assert [(j["query_id"], j["grade"], j["current"]) for j in latest] == [
        (q, 3, True) for q in ("q2", "q2", "q2", "q3", "q3", "q3")
    ]
    assert latest[0]["label"] == "perfect"


async def test_bad_cursors_and_unknown_runs(service: Service) -> None:
    status, body = await service.request(
        "GET", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/judgments"
    )
    assert_error(status, body, 404, "not_found")
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    status, body = await service.request(
        "GET", f"/ai-judging-runs/{evaluation['id']}/judgments"
    )  # an evaluation run's id is not a judging run's
    assert_error(status, body, 404, "not_found")
