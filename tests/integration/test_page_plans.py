"""A run's page of pending candidates is planned for its own cursor every time.

PostgreSQL switches a prepared statement to a generic plan after five executions when the
generic plan looks no dearer; for the page query that plan walked every query of the
evaluation from the first one, and pages went from 7 ms to 0.5-2 s in the benchmark,
starving the run. PostgreSQL counts the plans it made for each prepared statement
(``pg_prepared_statements``): after many pages, none may be generic.
"""

from __future__ import annotations

import asyncpg

from releval_judge.store.database import create_pool
from releval_judge.store.store import Store
from tests.conftest import Service, create_evaluation, create_judge, wait_until_ended


async def test_pages_are_never_read_with_a_generic_plan(
    service: Service, db: asyncpg.Pool, database_url: str
) -> None:
    big = await create_evaluation(service, queries=300, per_query=20)
    for _ in range(3):  # evaluations of other sizes, as a shared database holds
        await create_evaluation(service, queries=2, per_query=3)
    await db.execute("ANALYZE")
    judge = await create_judge(service, "http://127.0.0.1:9/v1", max_retries=0)
    status, run = await service.request(
        "POST", f"/evaluations/runs/{big['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run
    await wait_until_ended(service, run["id"])  # nothing judged: the provider is unreachable
    middle = await db.fetchrow(
        "SELECT query_id, rank, id FROM candidates WHERE evaluation_run_id = $1::uuid "
        "ORDER BY query_id, rank, id OFFSET 3000 LIMIT 1",
        big["id"],
    )
    assert middle is not None

    pool = await create_pool(database_url, size=2)
    try:
        store = Store(pool)
        for _ in range(12):
            page = await store.pending_candidates(
                big["id"],
                run["id"],
                after=(middle["query_id"], middle["rank"], middle["id"]),
                limit=100,
            )
            assert len(page) == 100
            assert (page[0].query_id, page[0].rank) >= (middle["query_id"], middle["rank"])
        plans = []
        connections = [await pool.acquire() for _ in range(2)]
        try:
            for conn in connections:
                plans += await conn.fetch(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%nor failed nor sent in a provider batch%' "
                    "AND statement NOT LIKE '%pg_prepared_statements%'"
                )
        finally:
            for conn in connections:
                await pool.release(conn)
    finally:
        await pool.close()
    assert sum(p["custom_plans"] for p in plans) >= 12
    assert sum(p["generic_plans"] for p in plans) == 0
