"""Live progress of one AI judging run as Server-Sent Events (``text/event-stream``).

``GET /api/v1/ai-judging-runs/{id}/events`` sends the run (the same JSON as
``GET /ai-judging-runs/{id}``) as an ``event: progress`` whenever it changed; the terminal
status comes as ``event: end`` and the stream closes. A cancelled run ends only once its
counts are final: calls in flight at the cancel still record their judgments while a
replica holds the run's lease, and those are sent as ``progress`` (status ``cancelled``),
so a page never stays at the count of the moment of the cancel. The run is read every ``POLL_S`` by
one reader per run on this replica, shared by all of the run's streams
(``services.run_events``): a hundred clients cost the database what one costs.
A comment line (``: heartbeat``) goes out after ``HEARTBEAT_S`` without an event, so that
proxies and load balancers keep the connection. The stream stops as soon as the client goes
away (Starlette cancels it on ``http.disconnect``), and the run's reader with its last
stream.

A stream on a run that does not end is closed after ``MAX_STREAM_S`` anyway; the ``retry:``
field tells EventSource to reconnect after ``RETRY_MS``, and the first event of the new
stream is the run as it is then, so a browser sees no gap. That bounds how long a server
shutdown waits for open streams (uvicorn lets open responses finish before it shuts the
application down).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from releval_judge.models import JudgingRun
from releval_judge.services import judging_runs
from releval_judge.services.run_events import RunStream
from releval_judge.web.auth import services

log = structlog.get_logger(__name__)

POLL_S = 0.5
HEARTBEAT_S = 15.0
MAX_STREAM_S = 20.0
RETRY_MS = 1000

EVENT_STREAM = "text/event-stream"


async def judging_run_events(request: Request) -> Response:
    """Stream the run's progress until it ends; 404 (before any byte) for an unknown run."""
    run, watch = await judging_runs.watch_judging_run(
        services(request), request.path_params["judging_run_id"], poll_s=POLL_S
    )
    return StreamingResponse(
        _stream(run, watch),
        media_type=EVENT_STREAM,
        headers={
            "Cache-Control": "no-cache",
            # nginx: pass each event on at once instead of buffering the response.
            "X-Accel-Buffering": "no",
        },
    )


def format_event(event: str, run: JudgingRun, data: str) -> str:
    """One SSE event: the run's JSON (`data`, serialised once for every stream) on a
    single ``data:`` line (JSON has no raw newline)."""
    return f"event: {event}\nid: {run.judged + run.failed}\ndata: {data}\n\n"


async def _stream(
    run: JudgingRun, watch: contextlib.AbstractAsyncContextManager[RunStream]
) -> AsyncIterator[str]:
    started = last_write = time.monotonic()
    sent: str | None = None
    reason = "disconnected"
    try:
        async with watch as readings:
            reading = readings.current
            yield f"retry: {RETRY_MS}\n\n"
            while True:
                if reading.settled:
                    yield format_event("end", reading.run, reading.json)
                    reason = "ended"
                    return
                now = time.monotonic()
                if reading.json != sent:
                    yield format_event("progress", reading.run, reading.json)
                    sent, last_write = reading.json, now
                elif now - last_write >= HEARTBEAT_S:
                    yield ": heartbeat\n\n"
                    last_write = now
                if now - started >= MAX_STREAM_S:
                    reason = "max_duration"
                    return
                # Woken by the run's next reading, or after POLL_S for the heartbeat and
                # the time limit.
                reading = await readings.next(POLL_S) or reading
    finally:
        log.info("judging_run_events_closed", judging_run_id=run.id, reason=reason)
