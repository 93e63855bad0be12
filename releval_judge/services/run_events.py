"""One reader per watched judging run on this replica, feeding every event stream of it.

Every event stream of a run (``GET /ai-judging-runs/{id}/events``) shows the same state, so
they share its reading: the first stream of a run starts a reader that reads the run every
``poll_s`` (one primary-key lookup) and publishes the reading, serialised once; each
stream waits for the next reading. The database is read once per run per tick on a
replica, whatever the number of clients (issue #25: 200 clients used to cost 400 queries a
second). A reader stops when the run's counts are final (:func:`run_settled`) or its last
stream has closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from releval_judge.errors import NotFound
from releval_judge.models import JudgingRun
from releval_judge.store.database import DATABASE_UNAVAILABLE
from releval_judge.store.store import Store
from releval_judge.telemetry import Metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunReading:
    """The run as one reading found it, its JSON (serialised once for every stream), and
    whether its counts are final (a stream then ends)."""

    run: JudgingRun
    json: str
    number: int  # 1, 2, … within one reader
    settled: bool


async def run_settled(store: Store, run: JudgingRun) -> bool:
    """Whether the run's counts are final. A cancelled run stops starting calls at once,
    but the calls already in flight still record their judgments, for as long as a
    replica holds the run's lease (it finishes them, then gives the lease back); any
    other ended run is final when it ends."""
    if run.active:
        return False
    if run.status != "cancelled":
        return True
    return await store.lease_owner(run.id) is None


async def reading(store: Store, run: JudgingRun, number: int) -> RunReading:
    return RunReading(run, run.model_dump_json(), number, await run_settled(store, run))


class _Reader:
    """Reads one run every ``poll_s`` and wakes every stream waiting for a reading."""

    def __init__(self, store: Store, metrics: Metrics, first: RunReading, poll_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.poll_s = poll_s
        self.latest = first
        self.streams = 0
        self._published = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"run-events-{first.run.id}")

    async def _run(self) -> None:
        run_id = self.latest.run.id
        while not self.latest.settled:
            await asyncio.sleep(self.poll_s)
            try:
                run = await self.store.get_judging_run(run_id)
                found = await reading(self.store, run, self.latest.number + 1)
            except DATABASE_UNAVAILABLE as exc:
                # The streams keep their heartbeats; the next tick tries again.
                log.warning("run_events_read_failed", judging_run_id=run_id, error=str(exc))
                continue
            except NotFound:
                # Deleted with its evaluation run: the streams close at their time limit,
                # and a reconnection gets the 404.
                log.info("run_events_run_gone", judging_run_id=run_id)
                return
            finally:
                self.metrics.run_event_reads.inc()
            self.latest = found
            published, self._published = self._published, asyncio.Event()
            published.set()

    async def after(self, number: int, timeout_s: float) -> RunReading | None:
        """The latest reading when it is newer than reading `number` (at once, or as soon
        as it comes); None when none came within `timeout_s`."""
        if self.latest.number > number:
            return self.latest
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._published.wait(), timeout_s)
        return self.latest if self.latest.number > number else None


class RunStream:
    """One event stream's view of its run's reader: ``current`` (the latest reading when
    the stream began), then each :meth:`next` one."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader
        self.current = reader.latest
        self._seen = reader.latest.number

    async def next(self, timeout_s: float) -> RunReading | None:
        """The next reading of the run this stream has not seen; None after `timeout_s`
        without one (the stream then sends a heartbeat or closes, as it decides)."""
        found = await self._reader.after(self._seen, timeout_s)
        if found is not None:
            self._seen = found.number
        return found


class RunEvents:
    """The readers of the runs watched on this replica (built and closed by the lifespan)."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self._readers: dict[str, _Reader] = {}

    @property
    def readers(self) -> int:
        """Runs with a reader now: one per watched run, however many streams watch it."""
        return len(self._readers)

    @contextlib.asynccontextmanager
    async def watch(self, run: JudgingRun, *, poll_s: float) -> AsyncIterator[RunStream]:
        """A stream of `run`'s readings: a reader already running is shared (its latest
        reading, at most ``poll_s`` old, comes first); otherwise the run as the caller just
        read it is the first reading of a new reader."""
        reader = self._readers.get(run.id)
        if reader is None or reader.task.done():
            reader = _Reader(self.store, self.metrics, await reading(self.store, run, 1), poll_s)
            self._readers[run.id] = reader
        reader.streams += 1
        self.metrics.run_event_streams.inc()
        try:
            yield RunStream(reader)
        finally:
            reader.streams -= 1
            self.metrics.run_event_streams.dec()
            if reader.streams == 0:
                if self._readers.get(run.id) is reader:
                    del self._readers[run.id]
                reader.task.cancel()

    async def close(self) -> None:
        """Stop every reader (at shutdown)."""
        tasks = [reader.task for reader in self._readers.values()]
        self._readers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
