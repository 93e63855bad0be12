"""Fixtures of the unit tests: the simulator's app behind a test client, on a clock that
moves only when a test says so (the batch APIs' timeline)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from releval_judge.sim import SimConfig
from tests.support.sim import Client, Clock, sim_client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sim(clock: Clock) -> AsyncIterator[Client]:
    client = await sim_client(SimConfig(latency_ms=0), clock)
    yield client
    await client.close()
