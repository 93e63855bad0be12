"""The PostgreSQL the service runs on: a configured one, or an embedded one it starts itself."""

from __future__ import annotations

import asyncio
import json
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# A string: asyncpg's connection proxy is generic for type checkers only.
Db: TypeAlias = "asyncpg.Pool | PoolConnectionProxy[asyncpg.Record]"
"""Where a read can run: the pool (a connection of its own) or a transaction's connection."""


class PoolUser:
    """Reads and writes of one resource, each on a connection of the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


# What a lost or restarting server looks like from here: worth waiting for, not a bug.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.InterfaceError,  # connection closed underneath a pooled connection
    OSError,
    TimeoutError,
)


def schema_sql() -> str:
    """The whole idempotent schema (``schema.sql`` ships inside the package)."""
    return resources.files("releval_judge").joinpath("schema.sql").read_text(encoding="utf-8")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``pgserver`` wheel, with its data in ``data_dir/pgdata``.

    The server is reused across restarts of the service (the data folder persists) and
    stopped when the last process that started it exits.
    """

    data_dir: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        """Start (or attach to) the server; return its connection URL."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only the embedded mode needs it

        pgdata = (self.data_dir / "pgdata").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        url: str = self._server.get_uri()
        log.info("embedded_postgres_started", pgdata=str(pgdata))
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + json.dumps(value, separators=(",", ":")).encode()


_EMPTY_OBJECT = b"\x01{}"
_decode_json_text = json.JSONDecoder().decode


def _decode_jsonb(data: bytes) -> Any:
    # Read for every candidate of every page (its fields), so kept short: the empty object
    # (a document without fields) skips the decoder, and text skips json.loads's sniffing
    # of a byte string's encoding.
    if data == _EMPTY_OBJECT:
        return {}
    return _decode_json_text(data[1:].decode())


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary format (version byte + JSON text) so that COPY can carry jsonb columns too.
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip each time: 12% of the service's
    CPU in the benchmark). Nothing here sets session state: no LISTEN, SET or session
    advisory locks; an open transaction is still rolled back by asyncpg itself."""


class FairPool(asyncpg.Pool):
    """asyncpg's pool, handing its connections out in the order they were asked for.

    asyncpg keeps its free connections in an ``asyncio.Queue``, whose ``get`` lets a
    newcomer take a connection that was just put back for a waiter woken a moment before;
    the waiter then joins the back of the line again. With more requests than connections
    (64 dashboard readers on 5), a few requests were passed over again and again: the reads'
    p99 was 5-7 times their median. Here a request first takes a turn from a semaphore as
    big as the pool (asyncio's is first come, first served), so whoever holds a turn finds
    a free connection at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(kwargs["max_size"])

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        async with asyncio.timeout(timeout):
            await self._turns.acquire()
        try:
            return await super()._acquire(timeout)  # type: ignore[misc]
        except BaseException:
            self._turns.release()
            raise

    async def release(
        self,
        connection: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's signature)
    ) -> None:
        try:
            await super().release(connection, timeout=timeout)
        finally:
            self._turns.release()


async def create_pool(url: str, *, size: int) -> asyncpg.Pool:
    """A pool whose connections encode and decode json/jsonb as Python values, handed out
    first come, first served (:class:`FairPool`)."""
    pool = FairPool(
        url,
        min_size=2,
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
        # What asyncpg.create_pool would pass (the constructor has no defaults for them).
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    await pool
    return pool


async def fetch_planned(
    pool: asyncpg.Pool, query: str, *args: Any, in_index_order: bool = False
) -> list[asyncpg.Record]:
    """`query`'s rows, planned for these very arguments (a read-only transaction).

    PostgreSQL switches a prepared statement to a generic plan after five executions when
    that plan looks no dearer. For a keyset page (where the cursor decides where the index
    scan starts, or whether ``$n IS NULL OR (…) > (…)`` applies at all) the generic plan
    starts at the first row every time: a run's page of pending candidates went from 7 ms
    to 0.5-2 s and starved the run. Pages are read rarely next to what they carry, so
    planning each one anew costs nothing.

    With `in_index_order`, the plan may not sort: the rows must come from an index in the
    query's order. The statistics of a table can be older than the rows a page reads (an
    evaluation imported and judged at once): PostgreSQL then expects a few rows after the
    cursor, and reads and sorts every one of them for each page, making a run's pages
    quadratic in its size.
    """
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await plan_each_execution(conn)
        if in_index_order:
            await conn.execute(
                "SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off"
            )
        rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows


async def plan_each_execution(conn: PoolConnectionProxy[asyncpg.Record]) -> None:
    """For the rest of `conn`'s transaction, plan every statement for its own arguments
    (no generic plan; see `fetch_planned`)."""
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def apply_schema(pool: asyncpg.Pool) -> None:
    """Apply ``schema.sql``; an advisory lock keeps two starting processes from racing."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7426511)")
        await conn.execute(schema_sql())


async def wait_for_database(url: str, *, attempts: int = 30, delay: float = 0.5) -> None:
    """Fail with a clear message when the configured database cannot be reached."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            conn = await asyncpg.connect(url, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            last = exc
            await asyncio.sleep(delay)
            continue
        await conn.close()
        return
    raise RuntimeError(f"database unreachable: {last}") from last
