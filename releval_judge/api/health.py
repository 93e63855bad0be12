"""Unauthenticated probes: the process is up, the database is reachable; metrics
(``services.health``)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from releval_judge.services import health
from releval_judge.web.auth import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    problem = await health.database_problem(services(request))
    if problem is not None:
        return JSONResponse({"status": "unavailable", "database": problem}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus text format; judging runs by status are counted at scrape time."""
    return Response(await health.scrape(services(request)), media_type=CONTENT_TYPE_LATEST)
