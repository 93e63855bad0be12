"""The provider batches of batch-delivery runs: what was submitted, under which key, which
candidates each request carries, and how far their results have been written.

The order of writes is what makes a crash harmless: a batch's row, requests and candidates
are written ('submitting') before the provider is called, its provider id the moment the
provider answers ('submitted'), and each request's result with the judgments it produced
(`record_batch` marks the request done). So a restart knows, for every batch, whether it
may have been submitted (then it asks the provider before submitting anything) and which
results are still to be written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from releval_judge.errors import LeaseLost
from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries

Q = queries()

BatchState = Literal["preparing", "prepared", "submitting", "submitted", "read"]


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a provider batch: its custom_id and its candidates in ordinal order
    (the first is "1" in the prompt)."""

    custom_id: str
    candidate_ids: Sequence[UUID]


@dataclass(frozen=True)
class ProviderBatchRow:
    id: UUID
    seq_no: int
    provider: str
    state: BatchState
    submission_key: str
    provider_batch_id: str | None
    provider_status: str | None
    request_counts: Mapping[str, int]
    requests: int
    reserved_cost: float
    output_ref: str | None
    error_ref: str | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class RequestCandidate:
    ordinal: int
    candidate_id: UUID


class ProviderBatchStore(PoolUser):
    """SQL of provider batches (`provider_batches.sql`)."""

    async def create(
        self,
        judging_run_id: str,
        *,
        provider: str,
        submission_key: str,
        requests: Sequence[PlannedRequest],
        reserved_cost: float,
        lease_owner: str,
        lease_epoch: int,
    ) -> ProviderBatchRow:
        """Record a batch about to be submitted, with its requests and candidates, in one
        transaction; its candidates are no longer pending for this run. Raises LeaseLost
        (nothing recorded, so nothing may be submitted) unless the lease holds the run."""
        run = UUID(judging_run_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                Q["insert_provider_batch"],
                run,
                provider,
                submission_key,
                len(requests),
                reserved_cost,
                lease_owner,
                lease_epoch,
            )
            if row is None:
                raise LeaseLost(judging_run_id)
            await conn.execute(
                Q["insert_provider_requests"],
                run,
                row["id"],
                [r.custom_id for r in requests],
                [len(r.candidate_ids) for r in requests],
            )
            await conn.execute(
                Q["insert_provider_request_items"],
                run,
                [c for r in requests for c in r.candidate_ids],
                [r.custom_id for r in requests for _ in r.candidate_ids],
                [i + 1 for r in requests for i in range(len(r.candidate_ids))],
            )
        return ProviderBatchRow(
            id=row["id"],
            seq_no=row["seq_no"],
            provider=provider,
            state="submitting",
            submission_key=submission_key,
            provider_batch_id=None,
            provider_status=None,
            request_counts={},
            requests=len(requests),
            reserved_cost=reserved_cost,
            output_ref=None,
            error_ref=None,
            error=None,
            created_at=row["created_at"],
        )

    async def submitted(
        self, batch: UUID, provider_batch_id: str, status: str, counts: Mapping[str, int]
    ) -> None:
        await self.pool.execute(
            Q["mark_provider_batch_submitted"],
            batch,
            provider_batch_id,
            status,
            dict(counts),
        )

    async def update_status(
        self,
        batch: UUID,
        *,
        status: str,
        counts: Mapping[str, int],
        output_ref: str | None,
        error_ref: str | None,
        error: str | None,
    ) -> None:
        await self.pool.execute(
            Q["update_provider_batch_status"],
            batch,
            status,
            dict(counts),
            output_ref,
            error_ref,
            error,
        )

    async def read(self, batch: UUID) -> None:
        await self.pool.execute(Q["mark_provider_batch_read"], batch)

    async def delete(self, batch: UUID) -> None:
        await self.pool.execute(Q["delete_provider_batch"], batch)

    async def open_batches(self, judging_run_id: str) -> list[ProviderBatchRow]:
        rows = await self.pool.fetch(Q["open_provider_batches"], UUID(judging_run_id))
        return [ProviderBatchRow(**dict(r)) for r in rows]

    async def ids_in_use(self, provider: str) -> set[str]:
        rows = await self.pool.fetch(Q["provider_batch_ids_in_use"], provider)
        return {r["provider_batch_id"] for r in rows}

    async def request_candidates(
        self, judging_run_id: str, custom_ids: Sequence[str]
    ) -> dict[str, list[RequestCandidate]]:
        rows = await self.pool.fetch(
            Q["provider_request_candidates"], UUID(judging_run_id), list(custom_ids)
        )
        found: dict[str, list[RequestCandidate]] = {}
        for r in rows:
            found.setdefault(r["custom_id"], []).append(
                RequestCandidate(ordinal=r["ordinal"], candidate_id=r["candidate_id"])
            )
        return found

    async def undone_requests(self, batch: UUID) -> list[str]:
        rows = await self.pool.fetch(Q["undone_provider_requests"], batch)
        return [r["custom_id"] for r in rows]

    async def reserved_cost(self, judging_run_id: str) -> float:
        value = await self.pool.fetchval(Q["reserved_cost_of_open_batches"], UUID(judging_run_id))
        return float(value or 0)
