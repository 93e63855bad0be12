"""The shared rate budgets of provider keys (`rate_budgets.sql`): taking a call's turn and
pausing a key after a 429, each one statement on the key's row, so that any number of runs
and replicas on one database keep to one limit together."""

from __future__ import annotations

from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries

Q = queries()


class RateBudgetStore(PoolUser):
    async def take(self, key_id: str, *, request_s: float, token_s: float) -> float:
        """Take the next turn of `key_id` if it is due, moving its request and token times
        on by `request_s` and `token_s`; 0 when taken, else the seconds until it is due."""
        row = await self.pool.fetchrow(Q["take_rate_budget"], key_id, request_s, token_s)
        assert row is not None
        return 0.0 if row["granted"] else max(float(row["wait_s"]), 0.001)

    async def pause(self, key_id: str, seconds: float) -> None:
        await self.pool.execute(Q["pause_rate_budget"], key_id, seconds)
