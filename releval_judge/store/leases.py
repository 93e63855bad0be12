"""Leases of judging runs (engine/leases.py): claimed, renewed and given back by the
replica that runs them, epoch-fenced. Queries: ``leases.sql``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from releval_judge.store.database import PoolUser
from releval_judge.store.judging_runs import ActiveRun, Lease, claimed_run, notify_work
from releval_judge.store.pages import parse_uuid
from releval_judge.store.sql import queries

Q = queries()


def lease_arrays(leases: Mapping[str, Lease]) -> tuple[list[UUID], list[int]]:
    """The ids and epochs of ``leases``, in one order: the arrays a renewal or a release
    unnests (runs' here, audits' in ``store/audits.py``)."""
    ids = list(leases)
    return [UUID(i) for i in ids], [leases[i].epoch for i in ids]


class Leases(PoolUser):
    """The leases' part of :class:`~releval_judge.store.store.Store`."""

    async def claim_judging_runs(
        self,
        owner: str,
        *,
        ttl_s: float,
        limit: int,
        include_own: bool = False,
        exclude: Sequence[str] = (),
    ) -> list[ActiveRun]:
        """Claim up to ``limit`` free runs (queued, or running with an expired lease), oldest
        first, for ``ttl_s`` seconds; with ``include_own`` also runs ``owner`` held before a
        restart. Runs locked by another claim are skipped, never waited for."""
        rows = await self.pool.fetch(
            Q["claim_judging_runs"],
            owner,
            ttl_s,
            limit,
            include_own,
            [UUID(r) for r in exclude],
        )
        return [claimed_run(r) for r in rows]

    async def renew_leases(
        self, owner: str, leases: dict[str, Lease], *, ttl_s: float
    ) -> dict[str, str]:
        """Extend ``leases`` by ``ttl_s``; the runs still held, with their status."""
        rows = await self.pool.fetch(Q["renew_leases"], owner, ttl_s, *lease_arrays(leases))
        return {str(r["id"]): r["status"] for r in rows}

    async def lease_owner(self, judging_run_id: str) -> str | None:
        """The replica that holds the run's lease now, or None."""
        owner: str | None = await self.pool.fetchval(
            Q["judging_run_lease_owner"], parse_uuid(judging_run_id, "AI judging run")
        )
        return owner

    async def release_leases(self, owner: str, leases: dict[str, Lease]) -> int:
        """Give ``leases`` back now (another replica may claim them at once); how many."""
        released: int = await self.pool.fetchval(Q["release_leases"], owner, *lease_arrays(leases))
        return released

    async def notify_work(self) -> None:
        await notify_work(self.pool)
