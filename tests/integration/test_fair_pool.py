"""The service's pool hands connections out first come, first served
(store/database.FairPool). asyncpg's own pool keeps its free connections in an
``asyncio.Queue``, whose ``get`` lets a newcomer take a connection put back for a waiter
that was woken but has not run yet; the waiter then joins the back of the line. Under 64
readers on 5 connections a few reads were passed over again and again: with nothing
judging, the reads' p99 was 3-4 times what it is with the fair pool (docs/benchmarks.md,
"A fair pool").

The race is set up exactly: a newcomer asks for a connection in the moment between a
connection's return and the waiting request's turn to run."""

from __future__ import annotations

import asyncio

import asyncpg

from releval_judge.store.database import create_pool


async def who_gets_it_first(pool: asyncpg.Pool) -> list[str]:
    """Both connections held, one request waiting; one connection comes back and a
    newcomer asks at once: who got a connection first."""
    order: list[str] = []
    first = await pool.acquire()
    second = await pool.acquire()

    async def request(name: str) -> None:
        async with pool.acquire():
            order.append(name)

    waiting = asyncio.create_task(request("waiting"))
    await asyncio.sleep(0.05)  # in line for a connection

    async def newcomer() -> None:
        # asyncpg's free connections (private; the test needs the exact moment): wait until
        # the connection is back, before the waiting request has run.
        while pool._queue.empty():  # type: ignore[attr-defined]
            await asyncio.sleep(0)
        await request("newcomer")

    late = asyncio.create_task(newcomer())
    await asyncio.sleep(0)  # the newcomer is watching
    await pool.release(first)
    await asyncio.gather(waiting, late)
    await pool.release(second)
    return order


async def test_a_waiting_request_gets_the_next_free_connection(database_url: str) -> None:
    pool = await create_pool(database_url, size=2)
    try:
        assert await who_gets_it_first(pool) == ["waiting", "newcomer"]
    finally:
        await pool.close()


async def test_asyncpgs_own_pool_lets_the_newcomer_go_first(database_url: str) -> None:
    # What the fair pool is for: the same race on asyncpg's pool.
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    try:
        assert await who_gets_it_first(pool) == ["newcomer", "waiting"]
    finally:
        await pool.close()
