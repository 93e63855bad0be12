"""A semaphore that a halt empties: waiters wake up refused instead of waiting for a slot.

The dispatcher waits for a slot once per batch; with ``asyncio.Semaphore`` plus a halt
event that wait needs helper tasks (``asyncio.wait`` on both), which cost CPU and event
loop turns on the hottest path. Here a waiter is one future, and ``halt`` resolves them all.
"""

from __future__ import annotations

import asyncio
from collections import deque


class HaltableSemaphore:
    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError("a semaphore needs at least one slot")
        self._value = value
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self._halted = False

    @property
    def halted(self) -> bool:
        return self._halted

    async def acquire(self) -> bool:
        """Take a slot (True), or False once halted: then nothing is held."""
        if self._halted:
            return False
        if self._value > 0 and not self._waiters:
            self._value -= 1
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()  # granted just as we were cancelled: pass it on
            elif not waiter.done():
                waiter.cancel()
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._value += 1

    def halt(self) -> None:
        """Refuse every waiter and every later acquire."""
        self._halted = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)
