"""Grouping a stream of candidates into batches: pure, no I/O.

Candidates arrive ordered by (query_id, rank); a batch never mixes queries and holds at
most ``batch_size`` candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class HasQuery(Protocol):
    @property
    def query_id(self) -> str: ...


C = TypeVar("C", bound=HasQuery)


class BatchBuilder(Generic[C]):
    """Feed candidates one by one; full batches come out as soon as they are complete."""

    def __init__(self, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._current: list[C] = []
        self._query: str | None = None

    def add(self, candidate: C) -> list[C] | None:
        """Add one candidate; return the batch it closed, if any."""
        closed: list[C] | None = None
        if self._current and candidate.query_id != self._query:
            closed, self._current = self._current, []
        self._query = candidate.query_id
        self._current.append(candidate)
        # A query change closes a batch only when batch_size > 1, and then the new batch
        # holds one candidate: at most one batch closes per candidate.
        if len(self._current) == self.batch_size:
            closed, self._current = self._current, []
        return closed

    def flush(self) -> list[C] | None:
        """The last, partial batch (end of the stream)."""
        if not self._current:
            return None
        batch, self._current = self._current, []
        return batch


def batched(candidates: Iterable[C], batch_size: int) -> list[list[C]]:
    """Every batch of `candidates` (ordered by query), in order: what a `BatchBuilder`
    fed all of them gives out, its last partial batch included."""
    builder: BatchBuilder[C] = BatchBuilder(batch_size)
    batches: list[list[C]] = []
    for candidate in candidates:
        closed = builder.add(candidate)
        if closed is not None:
            batches.append(closed)
    rest = builder.flush()
    if rest is not None:
        batches.append(rest)
    return batches
