"""The concurrency budgets of provider keys (`key_slots.sql`): slots claimed, renewed and
given back like run leases (holder, an epoch bumped on every claim, expiry), each one
statement, so that every run and replica on one database keeps to one key's limit of calls
in flight together. Never a count of running rows, which two claimers could both pass.
Holders whose claims came back short are recorded as waiting, so that a free slot goes to
the one that has waited longest, not to whoever asks first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries

Q = queries()


@dataclass(frozen=True)
class SlotClaim:
    """Slot `slot` of a key, held at `epoch`: only that epoch may renew or free it."""

    key_id: str
    slot: int
    epoch: int


class KeySlotStore(PoolUser):
    async def seed(self, key_id: str, limit: int) -> None:
        await self.pool.execute(Q["seed_key_slots"], key_id, limit)

    async def claim(
        self,
        key_id: str,
        *,
        limit: int,
        holder: str,
        wanted: int,
        ttl_s: float,
        interest_s: float,
    ) -> list[SlotClaim]:
        """Up to `wanted` of the key's free slots below `limit`, for `ttl_s` seconds.

        Turns: free slots go first to the holders that have waited longer (whose claims
        came back short and who have got no slot since); a claim that comes back short
        records `holder`'s interest for `interest_s` seconds, which its next claim renews
        (:meth:`withdraw` ends it; 0 for a claim that will not be made again)."""
        rows = await self.pool.fetch(
            Q["claim_key_slots"], key_id, limit, holder, wanted, ttl_s, interest_s
        )
        return [SlotClaim(key_id, row["slot"], row["epoch"]) for row in rows]

    async def withdraw(self, key_id: str, holder: str) -> None:
        """`holder` waits for slots of the key no more."""
        await self.pool.execute(Q["withdraw_key_interest"], key_id, holder)

    async def renew(
        self, holder: str, claims: Sequence[SlotClaim], *, ttl_s: float
    ) -> set[tuple[str, int]]:
        """Extend the claims; the (key, slot) pairs still held."""
        if not claims:
            return set()
        rows = await self.pool.fetch(
            Q["renew_key_slots"],
            holder,
            ttl_s,
            [c.key_id for c in claims],
            [c.slot for c in claims],
            [c.epoch for c in claims],
        )
        return {(row["key_id"], row["slot"]) for row in rows}

    async def release(self, holder: str, claims: Sequence[SlotClaim]) -> None:
        if not claims:
            return
        await self.pool.execute(
            Q["release_key_slots"],
            holder,
            [c.key_id for c in claims],
            [c.slot for c in claims],
            [c.epoch for c in claims],
        )

    async def release_all(self, holder: str) -> None:
        """Free whatever `holder` holds and forget its interest (its previous process,
        restarted under its name)."""
        await self.pool.execute(Q["release_holder_key_slots"], holder)

    async def in_use(self, key_id: str) -> int:
        return int(await self.pool.fetchval(Q["key_slots_in_use"], key_id))
