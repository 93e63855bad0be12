"""Human judgments through the API: one grade per (candidate, human judge), kept beside
the AI judgments, validated against the run's scale, refused on a locked run."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import asyncpg

from tests.support.api import assert_error, create_evaluation
from tests.support.reviewing import candidate_ids, put_human
from tests.support.service import Service
from tests.support.waiting import wait_for


async def _human_listing(service: Service, evaluation_id: str) -> list[dict[str, Any]]:
    status, body = await service.request(
        "GET", f"/evaluations/runs/{evaluation_id}/judgments", params={"source": "human"}
    )
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_put_records_replaces_and_delete_removes_a_human_judgment(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    eval_id = evaluation["id"]
    ids = await candidate_ids(db, eval_id)

    status, judgment = await put_human(service, eval_id, ids["d1-1"], "alice", 3, "exact match")
    assert status == 200, judgment
    assert judgment["candidate_id"] == ids["d1-1"]
    assert (judgment["source"], judgment["judge"], judgment["grade"]) == ("human", "alice", 3)
    assert (judgment["label"], judgment["reasoning"]) == ("perfect", "exact match")
    assert (judgment["query_id"], judgment["doc_id"], judgment["rank"]) == ("q1", "d1-1", 1)
    assert judgment["ai_judging_run_id"] is None

    # A second judge grades the same candidate; the first judge changes their mind.
    assert (await put_human(service, eval_id, ids["d1-1"], "Bob Smith", 1))[0] == 200
    status, again = await put_human(service, eval_id, ids["d1-1"], "alice", 0)
    assert status == 200 and again["label"] == "irrelevant"

    listed = await _human_listing(service, eval_id)
    assert sorted((j["judge"], j["grade"], j["reasoning"]) for j in listed) == [
        ("Bob Smith", 1, ""),
        ("alice", 0, ""),
    ]

    path = f"/evaluations/runs/{eval_id}/candidates/{ids['d1-1']}/judgments/alice"
    status, body = await service.request("DELETE", path)
    assert (status, body) == (204, None)
    assert [j["judge"] for j in await _human_listing(service, eval_id)] == ["Bob Smith"]
    status, body = await service.request("DELETE", path)
    error = assert_error(status, body, 404, "not_found")
    assert "alice" in error["message"]


async def test_names_with_spaces_and_accents_work_through_url_encoding(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    ids = await candidate_ids(db, evaluation["id"])
    name = "Zoë van Dijk"
    status, judgment = await service.request(
        "PUT",
        f"/evaluations/runs/{evaluation['id']}/candidates/{ids['d1-1']}/judgments/{quote(name)}",
        json={"grade": 2},
    )
    assert status == 200, judgment
    assert judgment["judge"] == name


async def test_bad_grades_and_bodies_are_422_and_write_nothing(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)  # scale 0–3
    eval_id = evaluation["id"]
    cand = (await candidate_ids(db, eval_id))["d1-1"]
    path = f"/evaluations/runs/{eval_id}/candidates/{cand}/judgments/alice"
    for grade in [4, -1, 1000]:
        status, body = await service.request("PUT", path, json={"grade": grade})
        error = assert_error(status, body, 422, "validation_error")
        assert error["message"] == f"grade {grade} outside scale 0–3"
    for payload in [
        {"grade": 1.5},
        {"grade": "high"},
        {},
        {"grade": 1, "comment": "x"},
        {"grade": 1, "reasoning": "a\u0000b"},
        {"grade": 1, "reasoning": "x" * 20_001},
    ]:
        status, body = await service.request("PUT", path, json=payload)
        assert_error(status, body, 422, "validation_error")
    for judge in ["x" * 201, "%20"]:
        status, body = await service.request(
            "PUT",
            f"/evaluations/runs/{eval_id}/candidates/{cand}/judgments/{judge}",
            json={"grade": 1},
        )
        error = assert_error(status, body, 422, "validation_error")
        assert error["message"].startswith("judge:")
    assert (
        await db.fetchval(
            "SELECT count(*) FROM human_judgments WHERE evaluation_run_id = $1::uuid", eval_id
        )
        == 0
    )


async def test_unknown_runs_and_candidates_of_another_run_are_404(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    other = await create_evaluation(service, queries=1, per_query=1)
    foreign = (await candidate_ids(db, other["id"]))["d1-1"]
    status, body = await put_human(service, evaluation["id"], foreign, "alice", 1)
    error = assert_error(status, body, 404, "not_found")
    assert "candidate" in error["message"]
    status, body = await put_human(
        service, "00000000-0000-0000-0000-000000000000", foreign, "alice", 1
    )
    assert_error(status, body, 404, "not_found")
    status, body = await service.request(
        "DELETE", f"/evaluations/runs/{evaluation['id']}/candidates/{foreign}/judgments/alice"
    )
    assert_error(status, body, 404, "not_found")


async def test_a_locked_run_refuses_human_judgment_changes(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    eval_id = evaluation["id"]
    cand = (await candidate_ids(db, eval_id))["d1-1"]
    assert (await put_human(service, eval_id, cand, "alice", 1))[0] == 200
    status, _ = await service.request(
        "PATCH", f"/evaluations/runs/{eval_id}", json={"locked": True}
    )
    assert status == 200

    status, body = await put_human(service, eval_id, cand, "alice", 3)
    assert_error(status, body, 409, "evaluation_run_locked")
    status, body = await service.request(
        "DELETE", f"/evaluations/runs/{eval_id}/candidates/{cand}/judgments/alice"
    )
    assert_error(status, body, 409, "evaluation_run_locked")
    assert [j["grade"] for j in await _human_listing(service, eval_id)] == [1]

    await service.request("PATCH", f"/evaluations/runs/{eval_id}", json={"locked": False})
    assert (await put_human(service, eval_id, cand, "alice", 3))[0] == 200


async def test_a_lock_taken_while_a_judgment_is_written_is_seen_by_it(
    service: Service, db: asyncpg.Pool
) -> None:
    """The write holds the run's row FOR SHARE: a lock in progress makes it wait, then 409."""
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    eval_id = evaluation["id"]
    cand = (await candidate_ids(db, eval_id))["d1-1"]
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("UPDATE evaluation_runs SET locked = true WHERE id = $1::uuid", eval_id)
        write = asyncio.create_task(put_human(service, eval_id, cand, "alice", 2))

        async def waiting_for_the_lock() -> bool:
            waiting = await db.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE wait_event_type = 'Lock' AND query LIKE '%FOR SHARE%'"""
            )
            return bool(waiting)

        await wait_for(waiting_for_the_lock)
        await transaction.commit()
        status, body = await write
    assert_error(status, body, 409, "evaluation_run_locked")
    assert await _human_listing(service, eval_id) == []
