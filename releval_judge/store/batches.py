"""What a judging run reads and writes batch by batch: the candidates it still has to
judge, and each batch's judgments, failures and tokens in one statement.
Queries: ``batches.sql``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

import asyncpg

from releval_judge.errors import EvaluationRunLocked, LeaseLost
from releval_judge.store.database import PoolUser, fetch_planned
from releval_judge.store.judging_runs import Lease
from releval_judge.store.sql import queries

Q = queries()


@dataclass(frozen=True)
class PendingCandidate:
    id: UUID
    query_id: str
    query: str
    doc_id: str
    rank: int
    title: str | None
    text: str | None
    fields: dict[str, Any]


_CANDIDATE_COLUMNS = tuple(f.name for f in fields(PendingCandidate))


def candidate_fields(row: asyncpg.Record) -> dict[str, Any]:
    """The fields of a :class:`PendingCandidate` from a row that has a column for each."""
    return {name: row[name] for name in _CANDIDATE_COLUMNS}


@dataclass(frozen=True)
class JudgmentWrite:
    """A judgment to write: ``fingerprint`` what decided it (engine/fingerprints.py; None:
    it cannot be reused), ``reused_from`` the judging run it was taken from (None: judged
    by this run's own call)."""

    candidate_id: UUID
    grade: int
    reasoning: str
    fingerprint: bytes | None = None
    reused_from: UUID | None = None


@dataclass(frozen=True)
class FailureWrite:
    candidate_id: UUID
    reason: str
    raw_excerpt: str


@dataclass(frozen=True)
class BatchOutcome:
    """What one provider call produced, written in one transaction.

    ``input_tokens`` counts every input token, ``cached_input_tokens`` those of them the
    provider served from its prompt cache. ``request`` is the custom_id of a provider
    batch's request (batch delivery): writing marks it done, and its tokens are counted
    only by the first write.
    """

    judgments: Sequence[JudgmentWrite]
    failures: Sequence[FailureWrite]
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    request: str | None = None


class RunBatches(PoolUser):
    """A run's batches, read and written: part of :class:`~releval_judge.store.store.Store`."""

    async def pending_candidates(
        self,
        evaluation_run_id: str,
        judging_run_id: str,
        *,
        after: tuple[str, int, UUID] | None,
        limit: int,
    ) -> list[PendingCandidate]:
        """The next page of candidates this run still has to judge, within its scope.

        The scope is read from the run's row, so a run resumed after a restart keeps it.
        """
        query_id, rank, cand_id = after if after is not None else ("", -1, UUID(int=0))
        # Planned for this cursor each time, read in index order from it (see fetch_planned:
        # a generic plan, then statistics older than the evaluation, starved runs).
        rows = await fetch_planned(
            self.pool,
            Q["pending_candidates"],
            UUID(evaluation_run_id),
            UUID(judging_run_id),
            query_id,
            rank,
            cand_id,
            limit,
            in_index_order=True,
        )
        return [PendingCandidate(**candidate_fields(r)) for r in rows]

    async def record_batch(
        self,
        *,
        evaluation_run_id: str,
        judging_run_id: str,
        run_seq: int,
        judge_name: str,
        outcome: BatchOutcome,
        lease: Lease,
    ) -> None:
        """Write one batch's judgments, failures and counter increments atomically (a
        judgment with ``reused_from`` counts as judged and as reused).

        The evaluation run's row is held FOR SHARE so that a lock (an UPDATE) either waits
        for this write or is seen by it: a locked run never gains a judgment. Rows this run
        already wrote (a batch repeated after a crash) are not counted twice. Nothing is
        written unless ``lease`` still holds the run (raises LeaseLost).
        """
        judgments, failures = outcome.judgments, outcome.failures
        result = await self.pool.fetchval(
            Q["record_batch"],
            UUID(evaluation_run_id),
            UUID(judging_run_id),
            run_seq,
            judge_name,
            [j.candidate_id for j in judgments],
            [j.grade for j in judgments],
            [j.reasoning for j in judgments],
            [f.candidate_id for f in failures],
            [f.reason for f in failures],
            [f.raw_excerpt for f in failures],
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cached_input_tokens,
            outcome.request,
            lease.owner,
            lease.epoch,
            [j.fingerprint for j in judgments],
            [j.reused_from for j in judgments],
        )
        if result == "lease_lost":
            raise LeaseLost(judging_run_id)
        if result == "locked":
            raise EvaluationRunLocked(evaluation_run_id)
