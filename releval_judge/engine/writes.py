"""Group commit of a run's batch writes: one statement for every batch that finished while
the previous write was on its way.

Every batch write of a run updates the run's own row (its counters) and checks its lease
there, so the writes of one run take that row's lock one after another, each until its
commit. At high concurrency (128 calls in flight, a call every 1.5 ms) the queue of writers
waiting for that lock became the bound of the run's throughput, and more so on a busy or
older cluster where each commit takes longer. Here a run has one writer: a batch that ends
while a write is in flight waits for it, and the next statement carries every batch that
waited, so the run's row is updated once per round trip instead of once per batch, and no
two writes of a run contend. A batch's ``write`` returns once its own rows are committed,
exactly as before, and raises what that statement raised.

Only live batches are merged: a provider batch's result (``request`` set) is marked done by
its own write, so it is written alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from releval_judge.store.store import BatchOutcome

# At most this many batches in one statement (a few thousand rows at batch 100).
MAX_GROUP = 64

WriteOne = Callable[[BatchOutcome], Awaitable[None]]


def merged(outcomes: Sequence[BatchOutcome]) -> BatchOutcome:
    """Several live batches' outcomes as one: every row, the summed tokens."""
    if len(outcomes) == 1:
        return outcomes[0]
    assert all(o.request is None for o in outcomes), "provider batch results are not merged"
    return BatchOutcome(
        judgments=[j for o in outcomes for j in o.judgments],
        failures=[f for o in outcomes for f in o.failures],
        input_tokens=sum(o.input_tokens for o in outcomes),
        output_tokens=sum(o.output_tokens for o in outcomes),
        cached_input_tokens=sum(o.cached_input_tokens for o in outcomes),
    )


class GroupWriter:
    """Writes a run's outcomes through `write_one`, merging those that wait together."""

    def __init__(
        self,
        write_one: WriteOne,
        *,
        max_group: int = MAX_GROUP,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self._write_one = write_one
        self._max_group = max_group
        self._on_written = on_written  # told how many batches each statement wrote
        self._queue: deque[tuple[BatchOutcome, asyncio.Future[None]]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def write(self, outcome: BatchOutcome) -> None:
        """Return once `outcome` is written (or raise why it was not). The write goes on
        when the caller is cancelled: a shutdown never half-writes a batch."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Seen even when the caller was cancelled meanwhile (no "never retrieved" noise).
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append((outcome, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="judging-run-writer")
        await asyncio.shield(future)

    def _next_group(self) -> list[tuple[BatchOutcome, asyncio.Future[None]]]:
        first = self._queue.popleft()
        group = [first]
        if first[0].request is not None:
            return group
        while self._queue and len(group) < self._max_group:
            if self._queue[0][0].request is not None:
                break
            group.append(self._queue.popleft())
        return group

    async def _drain(self) -> None:
        try:
            while self._queue:
                group = self._next_group()
                try:
                    await self._write_one(merged([outcome for outcome, _ in group]))
                except Exception as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    if self._on_written is not None:
                        self._on_written(len(group))
                    for _, future in group:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._task = None
            for _, future in self._queue:  # only after a cancellation of the writer itself
                if not future.done():
                    future.cancel()
            self._queue.clear()
