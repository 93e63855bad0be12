"""Reads for the metrics routes: a run's ranked candidates with their grades, query by query.

Queries are the named blocks of ``metrics.sql``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from releval_judge.metrics.measures import RankedCandidate, RankedQuery
from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries

Q = queries()

#: Rows fetched from the server-side cursor per round trip.
PREFETCH = 2000


class MetricsStore(PoolUser):
    async def ranked_queries(
        self,
        evaluation_run_id: str,
        *,
        ai_judging_run_id: str | None = None,
        human_judge: str | None = None,
    ) -> AsyncIterator[RankedQuery]:
        """Each query of the run in ``query_id`` order, candidates in position order.

        AI grades are the current judgments, or with ``ai_judging_run_id`` that judging
        run's own (checked by the caller to belong to the run); human grades are
        ``human_judge``'s, or the latest human grade of each candidate. Streamed through a
        server-side cursor in one read-only transaction: memory holds one query at a time.
        """
        query_id: str | None = None
        candidates: list[RankedCandidate] = []
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = conn.cursor(
                Q["ranked_grades"],
                UUID(evaluation_run_id),
                UUID(ai_judging_run_id) if ai_judging_run_id else None,
                human_judge,
                prefetch=PREFETCH,
            )
            async for row in cursor:
                if row["query_id"] != query_id:
                    if query_id is not None:
                        yield RankedQuery(query_id, tuple(candidates))
                    query_id, candidates = row["query_id"], []
                if row["doc_id"] is not None:
                    candidates.append(
                        RankedCandidate(
                            doc_id=row["doc_id"],
                            rank=row["rank"],
                            ai_grade=row["ai_grade"],
                            human_grade=row["human_grade"],
                        )
                    )
        if query_id is not None:
            yield RankedQuery(query_id, tuple(candidates))
