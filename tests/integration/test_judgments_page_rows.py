"""A page of an evaluation run's judgments in the default order (query, then rank) reads
about as many judgments as it returns, not every judgment of the run.

It used to read and sort them all: 17,000 judgments into a run of 40,000 candidates, a page
of 50 took 315 ms of PostgreSQL's time, and a dashboard reading it while the run judged
queued every other read behind it (issue #25, docs/benchmarks.md). The test runs the
listing's own statements, then ``EXPLAIN ANALYZE``s each with the same arguments and counts
the rows its plan read from ``ai_judgments``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from releval_judge.store.database import create_pool
from releval_judge.store.judgments import JudgmentFilter, list_judgments
from tests.support.api import create_evaluation
from tests.support.service import Service

QUERIES, PER_QUERY, LIMIT = 20, 20, 25


class Recording:
    """A pool (or a connection of it) that remembers every statement run through
    ``fetch`` (``fetched``) and ``fetchrow`` (``rows``), on itself or on a connection it
    lends."""

    def __init__(
        self,
        target: Any,
        fetched: list[tuple[str, tuple[Any, ...]]],
        rows: list[str] | None = None,
    ) -> None:
        self.target = target
        self.fetched = fetched
        self.rows = [] if rows is None else rows

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self.fetched.append((sql, args))
        rows: list[asyncpg.Record] = await self.target.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        self.rows.append(sql)
        row: asyncpg.Record | None = await self.target.fetchrow(sql, *args)
        return row

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Recording]:
        async with self.target.acquire() as conn:
            yield Recording(conn, self.fetched, self.rows)


def rows_read(plan: dict[str, Any], relation: str) -> int:
    """Rows the plan's nodes on `relation` produced, over all their loops."""
    own = 0
    if plan.get("Relation Name") == relation:
        own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    return own + sum(rows_read(child, relation) for child in plan.get("Plans", []))


async def judgments_read(db: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> int:
    explained = json.loads(await db.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args))
    return rows_read(explained[0]["Plan"], "ai_judgments")


async def test_a_page_in_query_order_reads_about_a_page_of_judgments(
    service: Service, db: asyncpg.Pool, database_url: str
) -> None:
    evaluation = await create_evaluation(service, queries=QUERIES, per_query=PER_QUERY)
    # Set-up only: every candidate has a current AI judgment, as after a finished run.
    await db.execute(
        """INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id,
                                     run_seq, judge, grade, reasoning)
           SELECT id, evaluation_run_id, gen_random_uuid(), 1, 'judge', rank % 4, 'because'
           FROM candidates WHERE evaluation_run_id = $1""",
        evaluation["id"],
    )
    await db.execute("ANALYZE ai_judgments, candidates")
    # The service's own pool (its json codecs), recording what the listing runs.
    store_pool = await create_pool(database_url, size=2)
    fetched: list[tuple[str, tuple[Any, ...]]] = []
    recording = Recording(store_pool, fetched)
    pages = []
    cursor = None
    for _ in range(3):
        page = await list_judgments(
            recording,  # type: ignore[arg-type]
            evaluation["id"],
            filters=JudgmentFilter(),
            sort=None,
            limit=LIMIT,
            cursor=cursor,
        )
        pages.append(page)
        cursor = page.next_cursor
    await store_pool.close()
    keys = [(j.query_id, j.rank) for p in pages for j in p.items]
    assert len(keys) == 3 * LIMIT and keys == sorted(keys, key=lambda k: (int(k[0][1:]), k[1]))
    assert keys[0] == ("q1", 1)

    total = QUERIES * PER_QUERY
    assert len(fetched) == 3
    # The evaluation's scale (to label the grades) was read for the first page only: a
    # scale never changes (store/evaluation_runs.scale_of), and a page is one statement.
    assert len(recording.rows) == 1 and "evaluation_runs" in recording.rows[0]
    for sql, args in fetched:
        read = await judgments_read(db, sql, args)
        # The page and the rest of its last (query, rank) group, not all 400.
        assert read <= 2 * LIMIT, (read, total)


async def test_another_sort_still_lists_every_judgment_in_order(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=3, per_query=4)
    await db.execute(
        """INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id,
                                     run_seq, judge, grade, reasoning)
           SELECT id, evaluation_run_id, gen_random_uuid(), 1, 'judge', rank % 4, 'because'
           FROM candidates WHERE evaluation_run_id = $1""",
        evaluation["id"],
    )
    status, body = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?sort=-grade,rank&limit=100"
    )
    assert status == 200, body
    grades = [(-j["grade"], j["rank"]) for j in body["items"]]
    assert len(grades) == 12 and grades == sorted(grades)
