"""What the unauthenticated probes read: whether the database answers, and the
Prometheus figures (judging runs by status counted at scrape time)."""

from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client import generate_latest

from releval_judge.services import Services

# A probe answers within this, whatever the database does.
PROBE_TIMEOUT_S = 3
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")

# What an unreachable or stuck database raises.
_UNREACHABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


async def database_problem(svc: Services) -> str | None:
    """None when the database answers; otherwise why not, e.g. ``unreachable: OSError``."""
    try:
        await asyncio.wait_for(svc.store.ping(), timeout=PROBE_TIMEOUT_S)
    except _UNREACHABLE as exc:
        return f"unreachable: {type(exc).__name__}"
    return None


async def scrape(svc: Services) -> bytes:
    """The registry in Prometheus text format. With the database down, the process's own
    figures still count (the judging-run gauges keep their last values)."""
    try:
        counts = await asyncio.wait_for(svc.store.judging_runs_by_status(), timeout=PROBE_TIMEOUT_S)
    except _UNREACHABLE:
        counts = None
    if counts is not None:
        for status in RUN_STATUSES:
            svc.metrics.judging_runs.labels(status).set(counts.get(status, 0))
    return generate_latest(svc.metrics.registry)
