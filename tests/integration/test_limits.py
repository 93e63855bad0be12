"""Bounds a client cannot push past: active judging runs per evaluation run, page sizes.

Bodies over ``RELEVAL_MAX_BODY_BYTES`` (413 on every JSON route, with and without a
Content-Length) are tested in ``test_errors.py``
(``test_bodies_over_max_body_bytes_are_413_on_every_route``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from releval_judge.api.routes import ROUTES, RouteSpec
from releval_judge.models import Page
from releval_judge.params import MAX_LIMIT
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProvider, FakeProviders
from tests.support.service import Service, ServiceFactory, wait_until_idle

# Routes that answer a page: {"items": [...], "next_cursor": ...}.
LIST_ROUTES = [
    spec for spec in ROUTES if spec.response is not None and issubclass(spec.response, Page)
]


async def _start(service: Service, evaluation_id: str, judge_id: str) -> tuple[int, Any]:
    return await service.request(
        "POST", f"/evaluations/runs/{evaluation_id}/ai-judge", json={"ai_judge_id": judge_id}
    )


async def test_a_third_active_run_is_refused_until_one_ends(
    services: ServiceFactory, stalled_provider: FakeProvider
) -> None:
    service = await services.start(max_active_runs_per_evaluation=2)
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, stalled_provider.base_url)
    first = await start_run(service, evaluation["id"], judge["id"])
    await start_run(service, evaluation["id"], judge["id"])

    status, body = await _start(service, evaluation["id"], judge["id"])
    error = assert_error(status, body, 409, "too_many_active_runs")
    assert evaluation["id"] in error["message"] and "2" in error["message"], error
    status, page = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert status == 200 and len(page["items"]) == 2, page
    assert {run["status"] for run in page["items"]} <= {"queued", "running"}

    # The limit is per evaluation run: another one still starts.
    other = await create_evaluation(service)
    await start_run(service, other["id"], judge["id"])

    # A run that ends frees its slot.
    status, cancelled = await service.request("POST", f"/ai-judging-runs/{first['id']}/cancel")
    assert status == 200, cancelled
    await wait_until_ended(service, first["id"])
    await start_run(service, evaluation["id"], judge["id"])
    status, body = await _start(service, evaluation["id"], judge["id"])
    assert_error(status, body, 409, "too_many_active_runs")


async def test_concurrent_starts_never_exceed_the_limit(
    services: ServiceFactory, stalled_provider: FakeProvider
) -> None:
    service = await services.start(max_active_runs_per_evaluation=2)
    evaluation = await create_evaluation(service)
    # Different judges, so that nothing but the limit itself serialises the starts.
    judges = [
        await create_judge(service, stalled_provider.base_url, name=f"judge {n}") for n in range(8)
    ]

    answers = await asyncio.gather(
        *(_start(service, evaluation["id"], judge["id"]) for judge in judges)
    )

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201, 201] + [409] * 6, answers
    for status, body in answers:
        if status == 409:
            assert_error(status, body, 409, "too_many_active_runs")
    status, page = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert status == 200 and len(page["items"]) == 2, page


def _path(spec: RouteSpec, ids: dict[str, str]) -> str:
    path = spec.path.removeprefix("/api/v1")
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def test_every_list_route_is_found_here() -> None:
    assert len(LIST_ROUTES) >= 6, [spec.path for spec in LIST_ROUTES]


async def test_page_size_is_capped_at_1000_on_every_list_route(
    service: Service, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    judge = await create_judge(service, provider.base_url)
    run = await start_run(service, evaluation["id"], judge["id"])
    await wait_until_ended(service, run["id"])
    other = await create_judge(service, provider.base_url, name="second judge")
    status, panel = await service.request(
        "POST",
        "/judge-panels",
        json={
            "name": "pair",
            "aggregation": "mean",
            "ai_judge_ids": [judge["id"], other["id"]],
        },
    )
    assert status == 201, panel
    status, panel_run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/judge-panel",
        json={"panel_id": panel["id"]},
    )
    assert status == 201, panel_run
    await wait_until_idle(service)
    status, judgments = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments"
    )
    assert status == 200 and judgments["items"], judgments
    ids = {
        "run_id": evaluation["id"],
        "judging_run_id": run["id"],
        "judge_id": judge["id"],
        "panel_run_id": panel_run["id"],
        "candidate_id": judgments["items"][0]["candidate_id"],
    }

    for spec in LIST_ROUTES:
        path = _path(spec, ids)
        status, page = await service.request("GET", path, params={"limit": str(MAX_LIMIT)})
        assert status == 200, (spec.path, page)
        for limit in [MAX_LIMIT + 1, 10**6, 2**63]:
            status, body = await service.request("GET", path, params={"limit": str(limit)})
            error = assert_error(status, body, 422, "validation_error")
            assert error["details"][0]["loc"] == ["query", "limit"], (spec.path, error)

    # The document says so, for clients that read it.
    async with service.client.get(service.base_url + "/openapi.json") as resp:
        assert resp.status == 200
        document = await resp.json()
    for spec in LIST_ROUTES:
        parameters = document["paths"][spec.path][spec.method.lower()]["parameters"]
        limit = next(p for p in parameters if p["name"] == "limit")
        assert limit["schema"]["maximum"] == MAX_LIMIT, spec.path
