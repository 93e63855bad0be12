"""Ids and keyset pages: a resource's row by id, the cursors a list is read with, and the
page made of its rows.

A list reads ``limit + 1`` rows after the cursor's key: the extra row only says that a
next page exists, whose cursor is the key of the page's last row (:func:`page`). Every
cursor is opaque to clients (``releval_judge.cursor``) and checked here before it reaches
a query: a forged one is a 422, never a database error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from releval_judge.cursor import decode_cursor, encode_cursor
from releval_judge.errors import NotFound, ValidationFailed
from releval_judge.models import Page
from releval_judge.store.database import Db

T = TypeVar("T")

RowKey = Callable[[asyncpg.Record], list[Any]]
"""The values a row is ordered by, as its page's cursor carries them."""


def parse_uuid(value: str, resource: str) -> UUID:
    """Ids are opaque strings; one that is not a UUID cannot exist, so it is a 404."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise NotFound(resource, value) from exc


async def fetch_one(db: Db, sql: str, resource: str, ident: str, *args: Any) -> asyncpg.Record:
    """The row ``sql`` reads for the ``resource`` whose id, ``ident``, is its first
    parameter (``args`` follow); NotFound when there is none."""
    row = await db.fetchrow(sql, parse_uuid(ident, resource), *args)
    if row is None:
        raise NotFound(resource, ident)
    return row


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}])


def page(
    kind: type[Page[T]],
    rows: Sequence[asyncpg.Record],
    limit: int,
    item: Callable[[asyncpg.Record], T],
    key: RowKey,
) -> Page[T]:
    """The page of the first ``limit`` of ``rows`` (read as ``limit + 1``), with the cursor
    of the next page when there is one: ``key`` of this page's last row."""
    items = [item(r) for r in rows[:limit]]
    next_cursor = encode_cursor(key(rows[limit - 1])) if len(rows) > limit else None
    return kind(items=items, next_cursor=next_cursor)


# --- newest first: (created_at, id) --------------------------------------------------------


def time_key(id_column: str = "id") -> RowKey:
    """The key of a list ordered by (created_at, ``id_column``)."""
    return lambda row: [row["created_at"].isoformat(), str(row[id_column])]


def cursor_time(value: Any) -> datetime:
    """A cursor's time, with its time zone; ValueError or TypeError when it is not one."""
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError("cursor time without a time zone")
    # Out of range once in UTC (year 1 or 9999 with an offset) fails here, not in asyncpg.
    at.astimezone(UTC)
    return at


def time_cursor(cursor: str | None) -> tuple[datetime | None, UUID | None]:
    """The (created_at, id) key of a time-ordered list's cursor; 422 when it is forged."""
    if cursor is None:
        return None, None
    at, ident = decode_cursor(cursor, length=2)
    try:
        return cursor_time(at), UUID(ident)
    except (TypeError, ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc


# --- by sequence number, newest first: (seq) ---------------------------------------------


def seq_key(row: asyncpg.Record) -> list[Any]:
    return [row["seq"]]


def seq_cursor(cursor: str | None) -> int | None:
    """The ``seq`` (a bigint) of a cursor; 422 when it is forged."""
    if cursor is None:
        return None
    (value,) = decode_cursor(cursor, length=1)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise invalid_cursor()
    return value


# --- in the run's order: (query_id, rank, candidate id) ------------------------------------


def candidate_key(row: asyncpg.Record) -> list[Any]:
    return [row["query_id"], row["rank"], str(row["candidate_id"])]


def candidate_cursor(cursor: str | None) -> tuple[str | None, int | None, UUID | None]:
    """The (query_id, rank, candidate id) of a cursor (all None without one); 422 when it
    is forged."""
    if cursor is None:
        return None, None, None
    query_id, rank, candidate_id = decode_cursor(cursor, length=3)
    try:
        # A forged cursor must fail here, not in asyncpg or PostgreSQL (a 500).
        if not isinstance(query_id, str) or "\x00" in query_id:
            raise TypeError(query_id)
        if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank < 2**31:
            raise TypeError(rank)
        return query_id, rank, UUID(candidate_id)
    except (TypeError, ValueError, AttributeError) as exc:
        raise invalid_cursor() from exc
