"""The waits between a batch-delivery run's polls (engine/polling.py)."""

from __future__ import annotations

from itertools import islice

from releval_judge.engine.polling import poll_intervals


def test_polling_starts_at_two_seconds_and_doubles_up_to_the_ceiling() -> None:
    assert list(islice(poll_intervals(30.0), 7)) == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_ceiling_below_the_first_wait_is_every_wait() -> None:
    assert list(islice(poll_intervals(0.5), 3)) == [0.5, 0.5, 0.5]


def test_first_wait_and_factor_are_the_callers() -> None:
    assert list(islice(poll_intervals(10.0, first_s=1.0, factor=3.0), 4)) == [1.0, 3.0, 9.0, 10.0]
