"""What RELEVAL_SECRET_KEY encrypts in the database: provider keys (judges and the judge
snapshots of judging runs) and the canary every replica's key must decrypt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries


@dataclass
class Rotation:
    """What a rotation re-encrypted, and the keys no given key could read (left as they
    were: unreadable before, unreadable after)."""

    judges: int = 0
    run_snapshots: int = 0
    canary: bool = False
    unreadable_judges: list[str] = field(default_factory=list)
    unreadable_runs: list[str] = field(default_factory=list)


class CanaryUnreadable(Exception):
    """None of the keys given decrypts the database's canary: they are not its keys."""


class SecretStore(PoolUser):
    async def secret_canary(self) -> str | None:
        value: str | None = await self.pool.fetchval(queries()["get_secret_canary"])
        return value

    async def store_secret_canary(self, token: str) -> str:
        """Store ``token`` unless a canary exists; the canary that is kept."""
        value: str = await self.pool.fetchval(queries()["insert_secret_canary"], token)
        return value

    async def replace_secret_canary(self, token: str) -> None:
        await self.pool.execute(queries()["replace_secret_canary"], token)

    async def sample_encrypted_api_key(self) -> str | None:
        value: str | None = await self.pool.fetchval(queries()["sample_encrypted_api_key"])
        return value

    async def rotate(self, rotate: Callable[[str], str]) -> Rotation:
        """Re-encrypt every stored secret with ``rotate`` (which raises ValueError for a
        value it cannot decrypt), in one transaction. Raises CanaryUnreadable, changing
        nothing, when ``rotate`` cannot read the canary."""
        q = queries()
        done = Rotation()
        async with self.pool.acquire() as conn, conn.transaction():
            canary = await conn.fetchval(q["lock_secret_canary"])
            if canary is not None:
                try:
                    await conn.execute(q["replace_secret_canary"], rotate(canary))
                except ValueError as exc:
                    raise CanaryUnreadable(str(exc)) from exc
                done.canary = True
            for row in await conn.fetch(q["lock_judge_keys"]):
                try:
                    await conn.execute(
                        q["set_judge_key"], row["id"], rotate(row["api_key_encrypted"])
                    )
                except ValueError:
                    done.unreadable_judges.append(str(row["id"]))
                else:
                    done.judges += 1
            for row in await conn.fetch(q["lock_run_snapshot_keys"]):
                try:
                    rotated = rotate(row["api_key_encrypted"])
                except ValueError:
                    done.unreadable_runs.append(str(row["id"]))
                    continue
                await conn.execute(q["set_run_snapshot_key"], row["id"], rotated)
                done.run_snapshots += 1
        return done
