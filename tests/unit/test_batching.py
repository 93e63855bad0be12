"""Batches never mix queries and hold at most batch_size candidates."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from releval_judge.engine.batching import BatchBuilder


@dataclass(frozen=True)
class Cand:
    query_id: str
    rank: int


def batches(stream: list[Cand], size: int) -> list[list[Cand]]:
    builder: BatchBuilder[Cand] = BatchBuilder(size)
    out = [b for c in stream if (b := builder.add(c)) is not None]
    rest = builder.flush()
    return [*out, rest] if rest is not None else out


def test_batches_split_at_query_boundaries_and_size() -> None:
    stream = [Cand("a", r) for r in range(5)] + [Cand("b", r) for r in range(2)]
    result = batches(stream, 3)
    assert [[(c.query_id, c.rank) for c in b] for b in result] == [
        [("a", 0), ("a", 1), ("a", 2)],
        [("a", 3), ("a", 4)],
        [("b", 0), ("b", 1)],
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_every_candidate_lands_in_exactly_one_single_query_batch(size: int) -> None:
    stream = [Cand(f"q{q}", r) for q in range(6) for r in range(q * 3 % 11)]
    result = batches(stream, size)
    assert [c for b in result for c in b] == stream
    for batch in result:
        assert 1 <= len(batch) <= size
        assert len({c.query_id for c in batch}) == 1


def test_empty_stream_and_bad_size() -> None:
    assert batches([], 4) == []
    with pytest.raises(ValueError, match="batch_size"):
        BatchBuilder(0)
