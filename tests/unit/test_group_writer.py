"""A run's group writer: batches that finish while a write is in flight go together in the
next statement, each caller returns once its own rows are written (or gets that statement's
error), provider-batch results are written alone, and a cancelled caller's write goes on."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from releval_judge.engine.writes import GroupWriter, merged
from releval_judge.store.store import BatchOutcome, FailureWrite, JudgmentWrite


def outcome(judged: int, failed: int = 0, request: str | None = None) -> BatchOutcome:
    return BatchOutcome(
        judgments=[JudgmentWrite(uuid.uuid4(), 2, "r") for _ in range(judged)],
        failures=[FailureWrite(uuid.uuid4(), "unparseable", "x") for _ in range(failed)],
        input_tokens=100,
        output_tokens=10,
        cached_input_tokens=5,
        request=request,
    )


class Database:
    """Records each statement; the first one waits until `open` is set."""

    def __init__(self) -> None:
        self.statements: list[BatchOutcome] = []
        self.open = asyncio.Event()
        self.fail_next: Exception | None = None

    async def write(self, written: BatchOutcome) -> None:
        self.statements.append(written)
        await self.open.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


def test_merging_keeps_every_row_and_sums_the_tokens() -> None:
    parts = [outcome(3, 1), outcome(2), outcome(0, 4)]
    one = merged(parts)
    assert [j.candidate_id for j in one.judgments] == [
        j.candidate_id for part in parts for j in part.judgments
    ]
    assert len(one.failures) == 5
    assert (one.input_tokens, one.output_tokens, one.cached_input_tokens) == (300, 30, 15)
    assert one.request is None


async def test_batches_that_wait_for_a_write_share_the_next_statement() -> None:
    db = Database()
    groups: list[int] = []
    writer = GroupWriter(db.write, on_written=groups.append)
    first = asyncio.create_task(writer.write(outcome(10)))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(writer.write(outcome(10))) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert len(db.statements) == 1  # the first write is in flight, the others wait
    assert not any(task.done() for task in [first, *waiting])
    db.open.set()
    await asyncio.gather(first, *waiting)
    assert [len(s.judgments) for s in db.statements] == [10, 50]
    assert groups == [1, 5]


async def test_a_failed_statement_fails_its_batches_only() -> None:
    db = Database()
    writer = GroupWriter(db.write)
    db.fail_next = RuntimeError("lease lost")
    first = asyncio.create_task(writer.write(outcome(1)))
    await asyncio.sleep(0)
    later = asyncio.create_task(writer.write(outcome(1)))
    db.open.set()
    with pytest.raises(RuntimeError, match="lease lost"):
        await first
    await later  # the next statement was written
    assert len(db.statements) == 2


async def test_provider_batch_results_are_written_alone() -> None:
    db = Database()
    writer = GroupWriter(db.write)
    first = asyncio.create_task(writer.write(outcome(1)))
    await asyncio.sleep(0)
    queued = [
        asyncio.create_task(writer.write(o))
        for o in [outcome(1), outcome(1, request="req-1"), outcome(1, request="req-2"), outcome(1)]
    ]
    await asyncio.sleep(0)
    db.open.set()
    await asyncio.gather(first, *queued)
    assert [(len(s.judgments), s.request) for s in db.statements] == [
        (1, None),
        (1, None),
        (1, "req-1"),
        (1, "req-2"),
        (1, None),
    ]


async def test_a_cancelled_caller_does_not_stop_its_write() -> None:
    db = Database()
    writer = GroupWriter(db.write)
    caller = asyncio.create_task(writer.write(outcome(4)))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    db.open.set()
    await asyncio.sleep(0.01)
    assert [len(s.judgments) for s in db.statements] == [4]
    # The writer is idle again and takes the next write.
    await writer.write(outcome(1))
    assert len(db.statements) == 2


async def test_no_more_than_max_group_batches_go_in_one_statement() -> None:
    db = Database()
    writer = GroupWriter(db.write, max_group=3)
    first = asyncio.create_task(writer.write(outcome(1)))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(writer.write(outcome(1))) for _ in range(7)]
    db.open.set()
    await asyncio.gather(first, *queued)
    assert [len(s.judgments) for s in db.statements] == [1, 3, 3, 1]
