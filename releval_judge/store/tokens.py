"""API tokens: only their SHA-256 hashes are kept, with a name, scopes and an expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

import asyncpg

from releval_judge.access import Principal, Scope
from releval_judge.store.sql import queries


class TokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        name: str,
        token_hash: str,
        scopes: Sequence[Scope] = ("write",),
        expires_at: datetime | None = None,
    ) -> str:
        """Store a new token's hash; its id."""
        row = await self.pool.fetchrow(
            queries()["insert_api_token"], name, token_hash, list(scopes), expires_at
        )
        assert row is not None
        return str(row["id"])

    async def principal(self, token_hash: str) -> tuple[Principal, datetime | None] | None:
        """Who holds the live token with this hash, and when it expires; None when no
        such token exists, or it was revoked or has expired."""
        row = await self.pool.fetchrow(queries()["find_api_token"], token_hash)
        if row is None:
            return None
        scopes = frozenset(cast(list[Scope], row["scopes"]))
        principal = Principal(name=row["name"], scopes=scopes, token_id=row["id"])
        return principal, row["expires_at"]
