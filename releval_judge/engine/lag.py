"""Event-loop lag, and back-pressure on the dispatchers when the loop falls behind.

API requests and judging runs share one event loop. When the runs keep the process's CPU
busy (high concurrency against a fast provider), every ready callback waits its turn and a
status poll waits behind hundreds of batch completions. The monitor measures how late a
periodic timer fires; while that lag is above a threshold, dispatchers hold back new
batches (calls in flight are never delayed), so the loop drains and stays responsive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class LoopLagMonitor:
    def __init__(
        self,
        *,
        interval_s: float = 0.02,
        threshold_s: float = 0.025,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        """`observe`, when given, is called with each lag measured (seconds)."""
        self.interval_s = interval_s
        self.threshold_s = threshold_s
        self.lag_s = 0.0
        self._calm = asyncio.Event()
        self._calm.set()
        self._task: asyncio.Task[None] | None = None
        self._observe = observe

    def start(self) -> None:
        self._task = asyncio.create_task(self._measure(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._calm.set()  # nobody may stay parked on a monitor that no longer measures

    async def _measure(self) -> None:
        while True:
            expected = time.perf_counter() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.lag_s = max(0.0, time.perf_counter() - expected)
            if self._observe is not None:
                self._observe(self.lag_s)
            if self.lag_s > self.threshold_s:
                self._calm.clear()
            else:
                self._calm.set()

    async def wait_until_calm(self) -> float:
        """Return at once when the loop keeps up (0.0); otherwise when it has caught up,
        with the seconds waited."""
        if self._calm.is_set():
            return 0.0
        started = time.perf_counter()
        await self._calm.wait()
        return time.perf_counter() - started
