"""Evaluation runs: create with inline queries, read, patch, list with cursor pagination."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from tests.support.api import assert_error, create_evaluation, evaluation_body
from tests.support.service import Service

RUN_FIELDS = {
    "id",
    "name",
    "status",
    "locked",
    "scale",
    "query_count",
    "candidate_count",
    "created_at",
}


async def test_create_with_inline_queries_returns_the_run_with_counts(
    service: Service, db: asyncpg.Pool
) -> None:
    body = evaluation_body(queries=3, per_query=4)
    body["queries"][0]["candidates"][0]["fields"] = {"brand": "Acme", "price": 9.5}
    status, run = await service.request("POST", "/evaluations/runs", json=body)

    assert status == 201, run
    assert set(run) == RUN_FIELDS
    uuid.UUID(run["id"])
    assert run["name"] == body["name"]
    assert run["status"] == "completed"
    assert run["locked"] is False
    assert run["scale"] == {"min": 0, "max": 3, "labels": {"0": "irrelevant", "3": "perfect"}}
    assert run["query_count"] == 3
    assert run["candidate_count"] == 12
    assert datetime.fromisoformat(run["created_at"]).tzinfo is not None

    status, fetched = await service.request("GET", f"/evaluations/runs/{run['id']}")
    assert status == 200
    assert fetched == run

    rows = await db.fetch(
        "SELECT query_id, doc_id, rank, title, text, fields::text AS fields FROM candidates "
        "WHERE evaluation_run_id = $1::uuid ORDER BY query_id, rank",
        run["id"],
    )
    assert len(rows) == 12
    first = rows[0]
    assert (first["query_id"], first["doc_id"], first["rank"]) == ("q1", "d1-1", 1)
    assert first["title"] == "title 1-1"
    assert first["text"] == "document text 1-1"
    assert '"brand": "Acme"' in first["fields"]
    texts = await db.fetch(
        "SELECT query_id, text FROM queries WHERE evaluation_run_id = $1::uuid ORDER BY query_id",
        run["id"],
    )
    assert [(r["query_id"], r["text"]) for r in texts] == [
        ("q1", "query number 1"),
        ("q2", "query number 2"),
        ("q3", "query number 3"),
    ]


async def test_defaults_status_and_query_ids(service: Service, db: asyncpg.Pool) -> None:
    status, run = await service.request(
        "POST",
        "/evaluations/runs",
        json={
            "name": "  minimal  ",
            "scale": {"min": 1, "max": 5},
            "queries": [
                {"text": "first", "candidates": [{"doc_id": "a", "rank": 1}]},
                {"text": "second"},
            ],
        },
    )
    assert status == 201, run
    assert run["name"] == "minimal"
    assert run["status"] == "completed"
    assert run["scale"] == {"min": 1, "max": 5, "labels": {}}
    assert (run["query_count"], run["candidate_count"]) == (2, 1)
    query_ids = await db.fetch(
        "SELECT query_id FROM queries WHERE evaluation_run_id = $1::uuid ORDER BY query_id",
        run["id"],
    )
    assert [r["query_id"] for r in query_ids] == ["q1", "q2"]

    status, empty = await service.request(
        "POST",
        "/evaluations/runs",
        json={"name": "empty", "status": "pending", "scale": {"min": 0, "max": 1}},
    )
    assert status == 201, empty
    assert (empty["status"], empty["query_count"], empty["candidate_count"]) == ("pending", 0, 0)


async def test_scale_must_be_a_range_with_labels_inside_it(service: Service) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"min": 3, "max": 3}, "greater than min"),
        ({"min": 4, "max": 0}, "greater than min"),
        ({"min": 0, "max": 3, "labels": {"4": "beyond"}}, "outside the scale"),
        ({"min": 0, "max": 3, "labels": {"-1": "below"}}, "outside the scale"),
        ({"min": 0, "max": 3, "labels": {"good": "x"}}, "integer"),
        ({"min": 0, "max": 500}, "101 grades"),
        ({"min": "low", "max": 3}, "integer"),
    ]
    for scale, words in cases:
        status, body = await service.request(
            "POST", "/evaluations/runs", json=evaluation_body(scale=scale)
        )
        error = assert_error(status, body, 422, "validation_error")
        assert words in error["message"], (scale, error["message"])
        assert error["details"][0]["loc"][:2] == ["body", "scale"]


async def test_bad_bodies_are_422_naming_the_field(service: Service, db: asyncpg.Pool) -> None:
    def body_with(change: Any) -> dict[str, Any]:
        body = evaluation_body(queries=2, per_query=2)
        change(body)
        return body

    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (body_with(lambda b: b.pop("name")), ["body", "name"]),
        (body_with(lambda b: b.update(name="   ")), ["body", "name"]),
        (body_with(lambda b: b.update(name=123)), ["body", "name"]),
        (body_with(lambda b: b.pop("scale")), ["body", "scale"]),
        (body_with(lambda b: b.update(status="done")), ["body", "status"]),
        (body_with(lambda b: b.update(queries={"q1": "x"})), ["body", "queries"]),
        (body_with(lambda b: b.update(owner="me")), ["body", "owner"]),
        (body_with(lambda b: b["queries"][1].update(text="")), ["body", "queries", 1, "text"]),
        (
            body_with(lambda b: b["queries"][0]["candidates"][1].update(rank="first")),
            ["body", "queries", 0, "candidates", 1, "rank"],
        ),
        (
            body_with(lambda b: b["queries"][0]["candidates"][0].update(rank=-1)),
            ["body", "queries", 0, "candidates", 0, "rank"],
        ),
        (
            body_with(lambda b: b["queries"][0]["candidates"][0].pop("doc_id")),
            ["body", "queries", 0, "candidates", 0, "doc_id"],
        ),
        (
            body_with(lambda b: b["queries"][0]["candidates"][0].update(fields=[1])),
            ["body", "queries", 0, "candidates", 0, "fields"],
        ),
        (
            body_with(lambda b: b["queries"][0]["candidates"][0].update(score=0.5)),
            ["body", "queries", 0, "candidates", 0, "score"],
        ),
    ]
    for payload, loc in cases:
        status, body = await service.request("POST", "/evaluations/runs", json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert loc in [d["loc"] for d in error["details"]], (loc, error)

    names = [case[0].get("name") for case in cases if isinstance(case[0].get("name"), str)]
    created = await db.fetchval(
        "SELECT count(*) FROM evaluation_runs WHERE name = ANY($1::text[])", names
    )
    assert created == 0


async def test_duplicates_are_422_and_create_nothing(service: Service, db: asyncpg.Pool) -> None:
    same_query = evaluation_body()
    same_query["queries"][1]["query_id"] = "q1"
    same_doc = evaluation_body()
    same_doc["queries"][0]["candidates"][1]["doc_id"] = "d1-1"
    for payload, words in [(same_query, "query_id 'q1'"), (same_doc, "doc_id 'd1-1'")]:
        status, body = await service.request("POST", "/evaluations/runs", json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert words in error["message"]
        assert "twice" in error["message"]
        count = await db.fetchval(
            "SELECT count(*) FROM evaluation_runs WHERE name = $1", payload["name"]
        )
        assert count == 0


async def test_the_same_doc_id_may_appear_under_different_queries(service: Service) -> None:
    body = evaluation_body(queries=2, per_query=1)
    for query in body["queries"]:
        query["candidates"][0]["doc_id"] = "shared"
    status, run = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201, run
    assert run["candidate_count"] == 2


async def test_patch_changes_only_the_given_fields(service: Service) -> None:
    run = await create_evaluation(service, status="running")
    path = f"/evaluations/runs/{run['id']}"

    status, patched = await service.request("PATCH", path, json={"status": "completed"})
    assert status == 200, patched
    assert patched == {**run, "status": "completed"}

    status, patched = await service.request("PATCH", path, json={"locked": True})
    assert status == 200, patched
    assert patched == {**run, "status": "completed", "locked": True}

    status, patched = await service.request(
        "PATCH", path, json={"status": "failed", "locked": False}
    )
    assert status == 200, patched
    assert (patched["status"], patched["locked"]) == ("failed", False)

    status, patched = await service.request("PATCH", path, json={})
    assert status == 200
    assert (patched["status"], patched["locked"]) == ("failed", False)

    for status_value in ["pending", "queued", "running", "completed", "failed"]:
        status, patched = await service.request("PATCH", path, json={"status": status_value})
        assert status == 200, patched
        assert patched["status"] == status_value

    status, fetched = await service.request("GET", path)
    assert fetched == {**run, "status": "failed"}


async def test_patch_refuses_bad_values_and_leaves_the_run_alone(service: Service) -> None:
    run = await create_evaluation(service)
    path = f"/evaluations/runs/{run['id']}"
    for payload, loc in [
        ({"status": "done"}, ["body", "status"]),
        ({"status": 3}, ["body", "status"]),
        ({"locked": "maybe"}, ["body", "locked"]),
        ({"locked": [True]}, ["body", "locked"]),
        ({"name": "renamed"}, ["body", "name"]),
        ({"candidate_count": 0}, ["body", "candidate_count"]),
    ]:
        status, body = await service.request("PATCH", path, json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert loc in [d["loc"] for d in error["details"]], error
    status, fetched = await service.request("GET", path)
    assert fetched == run


async def test_unknown_runs_are_404(service: Service) -> None:
    for run_id in [str(uuid.uuid4()), "not-a-uuid"]:
        status, body = await service.request("GET", f"/evaluations/runs/{run_id}")
        error = assert_error(status, body, 404, "not_found")
        assert run_id in error["message"]
        status, body = await service.request(
            "PATCH", f"/evaluations/runs/{run_id}", json={"locked": True}
        )
        assert_error(status, body, 404, "not_found")


async def _walk(service: Service, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"limit": str(limit)}
    pages = 0
    while True:
        status, page = await service.request("GET", "/evaluations/runs", params=params)
        assert status == 200, page
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        pages += 1
        assert pages < 1000, "pagination does not end"
        if page["next_cursor"] is None:
            return items
        assert len(page["items"]) == limit
        params = {"limit": str(limit), "cursor": page["next_cursor"]}


async def test_list_pagination_walks_every_run_exactly_once(
    service: Service, db: asyncpg.Pool
) -> None:
    created = [await create_evaluation(service, queries=1, per_query=1) for _ in range(7)]

    for limit in [1, 3, 7, 1000]:
        items = await _walk(service, limit)
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)), "a run was listed twice"
        assert len(ids) == await db.fetchval("SELECT count(*) FROM evaluation_runs")
        mine = [i for i in ids if i in {r["id"] for r in created}]
        assert mine == [r["id"] for r in reversed(created)], "newest first"
        stamps = [item["created_at"] for item in items]
        assert stamps == sorted(stamps, reverse=True)

    status, page = await service.request("GET", "/evaluations/runs")
    assert status == 200
    assert len(page["items"]) == min(50, await db.fetchval("SELECT count(*) FROM evaluation_runs"))
    assert page["items"][0] == created[-1]


async def test_list_refuses_bad_limits_and_cursors(service: Service) -> None:
    for params in [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "-1"},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJhIjogMX0"},  # {"a": 1}
        {"cursor": ""},
        {"page": "2"},
    ]:
        status, body = await service.request("GET", "/evaluations/runs", params=params)
        assert_error(status, body, 422, "validation_error")

    status, page = await service.request("GET", "/evaluations/runs", params={"limit": "1000"})
    assert status == 200, page
