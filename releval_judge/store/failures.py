"""The candidates a judging run failed, with why, in the order they were recorded
(written by ``record_batch``). Queries: ``failures.sql``."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from releval_judge.models import CandidateFailure, Page
from releval_judge.store.database import PoolUser, fetch_planned
from releval_judge.store.judging_runs import get_judging_run
from releval_judge.store.pages import page, time_cursor, time_key
from releval_judge.store.sql import queries

Q = queries()


def _failure(row: asyncpg.Record) -> CandidateFailure:
    return CandidateFailure.model_validate({**dict(row), "candidate_id": str(row["candidate_id"])})


class Failures(PoolUser):
    """The failures' part of :class:`~releval_judge.store.store.Store`."""

    async def list_failures(
        self, judging_run_id: str, *, limit: int, cursor: str | None
    ) -> Page[CandidateFailure]:
        await get_judging_run(self.pool, judging_run_id)
        after_at, after_id = time_cursor(cursor)
        rows = await fetch_planned(
            self.pool,
            Q["list_candidate_failures"],
            UUID(judging_run_id),
            after_at,
            after_id,
            limit + 1,
        )
        return page(Page[CandidateFailure], rows, limit, _failure, time_key("candidate_id"))
