"""A run's page of pending candidates is planned for its own cursor every time.

PostgreSQL switches a prepared statement to a generic plan after five executions when the
generic plan looks no dearer; for the page query that plan walked every query of the
evaluation from the first one, and pages went from 7 ms to 0.5-2 s in the benchmark,
starving the run. PostgreSQL counts the plans it made for each prepared statement
(``pg_prepared_statements``): after many pages, none may be generic.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.store.database import create_pool, fetch_planned
from releval_judge.store.review import ReviewStore
from releval_judge.store.sql import queries
from releval_judge.store.store import Store
from tests.support.api import create_evaluation, create_judge, wait_until_ended
from tests.support.fakes import FakeProviders
from tests.support.service import Service


async def _page_plans(pool: asyncpg.Pool, purpose: str) -> list[asyncpg.Record]:
    """The plan counts of the prepared statements whose text holds `purpose`, on every
    connection of `pool` (PostgreSQL keeps them per session)."""
    plans: list[asyncpg.Record] = []
    connections = [await pool.acquire() for _ in range(2)]
    try:
        for conn in connections:
            plans += await conn.fetch(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%' || $1 || '%' "
                "AND statement NOT LIKE '%pg_prepared_statements%'",
                purpose,
            )
    finally:
        for conn in connections:
            await pool.release(conn)
    return plans


async def _run_that_judged_nothing(service: Service, evaluation_id: str) -> str:
    """A judging run of the evaluation that ended without judging anything (its provider
    is unreachable): its id."""
    judge = await create_judge(service, "http://127.0.0.1:9/v1", max_retries=0)
    status, run = await service.request(
        "POST", f"/evaluations/runs/{evaluation_id}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run
    await wait_until_ended(service, run["id"])
    run_id: str = run["id"]
    return run_id


async def _candidate_at(db: asyncpg.Pool, evaluation_id: str, offset: int) -> asyncpg.Record:
    """The page key (query_id, rank, id) of the evaluation's candidate at `offset` in page
    order."""
    row = await db.fetchrow(
        "SELECT query_id, rank, id FROM candidates WHERE evaluation_run_id = $1::uuid "
        "ORDER BY query_id, rank, id OFFSET $2 LIMIT 1",
        evaluation_id,
        offset,
    )
    assert row is not None
    return row


async def _judge_first(
    db: asyncpg.Pool, evaluation_id: str, run_id: str, count: int
) -> asyncpg.Record:
    """Write judgments of the run for the evaluation's first `count` candidates in page
    order; the page key of the last one, where the run's next page starts."""
    await db.execute(
        "INSERT INTO ai_run_judgments (ai_judging_run_id, candidate_id, grade) "
        "SELECT $2::uuid, id, 1 FROM candidates WHERE evaluation_run_id = $1::uuid "
        "ORDER BY query_id, rank, id LIMIT $3",
        evaluation_id,
        run_id,
        count,
    )
    return await _candidate_at(db, evaluation_id, count - 1)


async def _explain_page(
    db: asyncpg.Pool, evaluation_id: str, run_id: str, after: asyncpg.Record
) -> dict[str, Any]:
    """The EXPLAIN ANALYZE plan (JSON) of the run's page of 1,000 pending candidates after
    `after`, read as Store.pending_candidates reads it."""
    rows = await fetch_planned(
        db,
        "EXPLAIN (ANALYZE, FORMAT JSON) " + queries()["pending_candidates"],
        UUID(evaluation_id),
        UUID(run_id),
        after["query_id"],
        after["rank"],
        after["id"],
        1000,
        in_index_order=True,
    )
    plan: dict[str, Any] = json.loads(rows[0][0])[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN plan (JSON), the root first."""
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def test_pages_are_never_read_with_a_generic_plan(
    service: Service, db: asyncpg.Pool, database_url: str
) -> None:
    big = await create_evaluation(service, queries=300, per_query=20)
    for _ in range(3):  # evaluations of other sizes, as a shared database holds
        await create_evaluation(service, queries=2, per_query=3)
    await db.execute("ANALYZE")
    run_id = await _run_that_judged_nothing(service, big["id"])
    middle = await _candidate_at(db, big["id"], 3000)

    pool = await create_pool(database_url, size=2)
    try:
        store = Store(pool)
        for _ in range(12):
            page = await store.pending_candidates(
                big["id"],
                run_id,
                after=(middle["query_id"], middle["rank"], middle["id"]),
                limit=100,
            )
            assert len(page) == 100
            assert (page[0].query_id, page[0].rank) >= (middle["query_id"], middle["rank"])
        plans = await _page_plans(pool, "nor failed nor sent in a provider batch")
    finally:
        await pool.close()
    assert sum(p["custom_plans"] for p in plans) >= 12
    assert sum(p["generic_plans"] for p in plans) == 0


async def test_a_runs_judgments_are_paged_without_a_generic_plan(
    service: Service, db: asyncpg.Pool, database_url: str, fake_provider: FakeProviders
) -> None:
    fake = await fake_provider()
    big = await create_evaluation(service, queries=100, per_query=20)
    for _ in range(3):
        await create_evaluation(service, queries=2, per_query=3)
    judge = await create_judge(service, fake.base_url, batch_size=100, concurrency=4)
    status, created = await service.request(
        "POST", f"/evaluations/runs/{big['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, created
    final = await wait_until_ended(service, created["id"])
    assert final["judged"] == 2000
    await db.execute("ANALYZE")

    pool = await create_pool(database_url, size=2)
    try:
        store = Store(pool)
        run = await store.get_judging_run(created["id"])
        evaluation = await store.get_evaluation_run(big["id"])
        review = ReviewStore(store)
        cursor: str | None = None
        seen = 0
        for _ in range(12):
            page = await review.run_judgments(run, evaluation.scale, limit=100, cursor=cursor)
            seen += len(page.items)
            cursor = page.next_cursor
        plans = await _page_plans(pool, "(query_id, rank, candidate id) order after the given key")
    finally:
        await pool.close()
    assert seen == 1200
    assert sum(p["custom_plans"] for p in plans) >= 12
    assert sum(p["generic_plans"] for p in plans) == 0


def _rows_removed_by_join_filters(plan: dict[str, Any]) -> int:
    """The rows every join of an EXPLAIN ANALYZE plan (JSON) compared and threw away."""
    return sum(int(n.get("Rows Removed by Join Filter", 0)) for n in _nodes(plan))


async def test_a_page_costs_the_same_late_in_a_run_as_early(
    service: Service, db: asyncpg.Pool
) -> None:
    """The statistics of `ai_run_judgments` are older than the run (a new run has no rows
    when they are taken), so PostgreSQL estimates that the run has judged one candidate.
    Planned as a join, "not judged by this run" then compared every candidate of a page
    with every judgment of the run: a page 5,000 judgments into a run threw away 5,000,000
    rows, and 18,000 into the benchmark's run took 1.7 s. Each candidate must be looked up
    in the run's judgments instead, whatever the estimate."""
    big = await create_evaluation(service, queries=300, per_query=20)
    run_id = await _run_that_judged_nothing(service, big["id"])
    # Earlier runs' judgments, then statistics taken before this run judged anything.
    for _ in range(4):
        await db.execute(
            "INSERT INTO ai_run_judgments (ai_judging_run_id, candidate_id, grade) "
            "SELECT gen_random_uuid(), id, 1 FROM candidates WHERE evaluation_run_id = $1::uuid",
            big["id"],
        )
    await db.execute("ANALYZE ai_run_judgments")
    # The run judges its first 5,000 candidates after the statistics.
    last = await _judge_first(db, big["id"], run_id, 5000)
    plan = await _explain_page(db, big["id"], run_id, last)
    assert plan["Actual Rows"] == 1000
    # At most a row per candidate of the page, not a row per (candidate, judgment).
    assert _rows_removed_by_join_filters(plan) <= 1000


async def test_a_page_reads_the_candidates_once_in_order_from_the_cursor(
    service: Service, db: asyncpg.Pool
) -> None:
    """The statistics of `candidates` are older than the evaluation (a team imports and
    judges at once), so PostgreSQL estimates that it has a few hundred candidates. Given a
    join to `queries`, it then read the page query by query, each from its first candidate:
    every page read every candidate before the cursor (a 100,000-candidate run in the
    benchmark spent 2.7 s on its last pages). The page must come from one ordered scan of
    the evaluation's candidates that starts at the cursor."""
    for _ in range(3):  # the evaluations the statistics know
        await create_evaluation(service, queries=20, per_query=20)
    await db.execute("ANALYZE candidates")
    big = await create_evaluation(service, queries=300, per_query=20)
    # Autovacuum analyses a small table such as `queries` sooner than a big one.
    await db.execute("ANALYZE queries")
    run_id = await _run_that_judged_nothing(service, big["id"])
    last = await _judge_first(db, big["id"], run_id, 5000)
    plan = await _explain_page(db, big["id"], run_id, last)
    assert plan["Actual Rows"] == 1000
    scans = [n for n in _nodes(plan) if n.get("Relation Name") == "candidates"]
    assert [(n["Node Type"], n.get("Index Name"), n["Actual Loops"]) for n in scans] == [
        ("Index Scan", "candidates_stream_idx", 1)
    ]
    assert not [n for n in _nodes(plan) if "Sort" in n["Node Type"]]
