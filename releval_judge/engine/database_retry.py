"""A lost database waited out: a PostgreSQL restart or fail-over costs a run a pause, not
its life."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from releval_judge.store.database import DATABASE_UNAVAILABLE

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Database calls are retried with backoff for about half a minute (a PostgreSQL restart or
# fail-over) before the run gives up.
DB_ATTEMPTS = 10


class DatabaseUnavailable(Exception):
    """The database stayed unreachable through every retry."""


async def with_database_retry(operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run ``operation``, waiting out a lost database (restart, fail-over) with backoff;
    after ``DB_ATTEMPTS`` tries raise DatabaseUnavailable saying what was being done."""
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            return await operation()
        except DATABASE_UNAVAILABLE as exc:
            if attempt == DB_ATTEMPTS:
                raise DatabaseUnavailable(f"database unavailable while {what}: {exc}") from exc
            log.warning("database_call_retried", what=what, attempt=attempt, error=str(exc))
            await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 5.0))
    raise AssertionError("unreachable")
