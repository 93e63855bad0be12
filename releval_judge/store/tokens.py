"""API tokens: only their SHA-256 hashes are kept, with a name, scopes and an expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from releval_judge.access import ApiToken, Principal, Scope
from releval_judge.errors import NotFound
from releval_judge.models import Page
from releval_judge.store.database import PoolUser
from releval_judge.store.pages import page, time_cursor, time_key
from releval_judge.store.sql import queries


class TokenStore(PoolUser):
    async def create(
        self,
        name: str,
        token_hash: str,
        scopes: Sequence[Scope] = ("write",),
        expires_at: datetime | None = None,
    ) -> ApiToken:
        """Store a new token's hash (never the token)."""
        row = await self.pool.fetchrow(
            queries()["insert_api_token"], name, token_hash, list(scopes), expires_at
        )
        assert row is not None
        return _token(row)

    async def principal(self, token_hash: str) -> tuple[Principal, datetime | None] | None:
        """Who holds the live token with this hash, and when it expires; None when no
        such token exists, or it was revoked or has expired."""
        row = await self.pool.fetchrow(queries()["find_api_token"], token_hash)
        if row is None:
            return None
        scopes = frozenset(cast(list[Scope], row["scopes"]))
        principal = Principal(name=row["name"], scopes=scopes, token_id=row["id"])
        return principal, row["expires_at"]

    async def list(self, *, limit: int, cursor: str | None) -> Page[ApiToken]:
        """Every stored token, revoked and expired ones too, newest first."""
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(queries()["list_api_tokens"], after_at, after_id, limit + 1)
        return page(Page[ApiToken], rows, limit, _token, time_key())

    async def revoke(self, token_id: str) -> str:
        """Revoke the token (revoking it again keeps the first time); its id as stored.
        NotFound when no token has this id."""
        try:
            ident = UUID(token_id)
        except ValueError as exc:
            raise NotFound("API token", token_id) from exc
        row = await self.pool.fetchrow(queries()["revoke_api_token"], ident)
        if row is None:
            raise NotFound("API token", token_id)
        return cast(str, row["id"])


def _token(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        scopes=row["scopes"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
