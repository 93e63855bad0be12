"""Unauthenticated probes: the process is up, the database is reachable; metrics."""

from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from releval_judge.web.auth import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await asyncio.wait_for(services(request).store.ping(), timeout=3)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus text format; judging runs by status are counted at scrape time."""
    svc = services(request)
    try:
        counts = await asyncio.wait_for(svc.store.judging_runs_by_status(), timeout=3)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        counts = None  # the database is down: the process's own figures still count
    if counts is not None:
        for status in ("queued", "running", "completed", "failed", "cancelled"):
            svc.metrics.judging_runs.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
