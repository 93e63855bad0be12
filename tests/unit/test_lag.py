"""The loop-lag monitor holds dispatchers back while the loop is late, and never after stop."""

from __future__ import annotations

import asyncio
import time

from releval_judge.engine.lag import LoopLagMonitor


async def test_a_blocked_loop_is_seen_as_lag_and_dispatchers_wait_for_calm() -> None:
    monitor = LoopLagMonitor(interval_s=0.01, threshold_s=0.02)
    monitor.start()
    try:
        await asyncio.sleep(0)  # the monitor arms its first timer
        time.sleep(0.05)  # noqa: ASYNC251 - block the loop, as a burst of CPU-bound work does
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        assert monitor.lag_s > 0.03
        assert not monitor._calm.is_set()
        await asyncio.wait_for(monitor.wait_until_calm(), timeout=5)
        assert monitor.lag_s <= 0.02
    finally:
        await monitor.stop()
    assert monitor._calm.is_set()  # stopped: nobody stays parked


async def test_each_lag_measured_is_reported_to_observe() -> None:
    """What /metrics' ``releval_event_loop_lag_seconds`` is fed from: every measurement,
    the stall among them."""
    seen: list[float] = []
    monitor = LoopLagMonitor(interval_s=0.01, threshold_s=0.02, observe=seen.append)
    monitor.start()
    try:
        await asyncio.sleep(0)  # the monitor arms its first timer
        time.sleep(0.05)  # noqa: ASYNC251 - block the loop, as a burst of CPU-bound work does
        while len(seen) < 3:
            await asyncio.sleep(0.005)
    finally:
        await monitor.stop()
    assert max(seen) > 0.03
    assert all(lag >= 0 for lag in seen)
