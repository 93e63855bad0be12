"""Polling until something holds: the timeout only stops a hung test, it asserts no time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.02
) -> None:
    """Poll until ``check`` is true; the timeout only stops a hung test."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(interval)
