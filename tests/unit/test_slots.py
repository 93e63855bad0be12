"""HaltableSemaphore: slots in order, and a halt refuses every waiter at once."""

from __future__ import annotations

import asyncio

import pytest

from releval_judge.engine.slots import HaltableSemaphore


async def test_waiters_get_slots_in_order_and_halt_refuses_the_rest() -> None:
    slots = HaltableSemaphore(1)
    assert await slots.acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        order.append(f"{name}:{await slots.acquire()}")

    first = asyncio.create_task(wait("a"))
    second = asyncio.create_task(wait("b"))
    await asyncio.sleep(0)
    slots.release()
    await first
    assert order == ["a:True"]
    slots.halt()
    await second
    assert order == ["a:True", "b:False"]
    assert not await slots.acquire()  # refused after a halt, nothing held


async def test_a_cancelled_waiter_passes_a_granted_slot_on() -> None:
    slots = HaltableSemaphore(1)
    assert await slots.acquire()
    cancelled = asyncio.create_task(slots.acquire())
    after = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    slots.release()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await after


def test_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one"):
        HaltableSemaphore(0)
