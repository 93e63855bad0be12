"""Pacing: the rate pacer keeps every 60-s window under the judge's limits while spacing
calls evenly, and the adaptive limit halves on 429s and grows back on successes.
No real time: the pacer is driven through ``delay_for`` / ``record`` and a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from releval_judge.engine.pacing import (
    OUTPUT_TOKENS_PER_CANDIDATE,
    AdaptiveLimit,
    Halted,
    RatePacer,
    Ticket,
    estimate_call_tokens,
)


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def greedy_calls(pacer: RatePacer, count: int, cost: int | list[int] = 1) -> list[float]:
    """Start times of ``count`` calls made as soon as the pacer allows each."""
    costs = cost if isinstance(cost, list) else [cost] * count
    now = 0.0
    times = []
    for tokens in costs[:count]:
        now += pacer.delay_for(now, tokens)
        pacer.record(now, tokens)
        times.append(now)
    return times


def busiest_window(times: list[float], weights: list[int] | None = None) -> int:
    """The largest total weight started in any window [t, t + 60)."""
    weights = weights or [1] * len(times)
    best = total = 0
    start = 0
    for end, at in enumerate(times):
        total += weights[end]
        while times[start] <= at - 60.0:
            total -= weights[start]
            start += 1
        best = max(best, total)
    return best


def test_without_limits_calls_never_wait() -> None:
    pacer = RatePacer(None, None)
    assert not pacer.limited
    assert greedy_calls(pacer, 1000) == [0.0] * 1000


def test_600_rpm_is_one_call_every_100_ms() -> None:
    pacer = RatePacer(600, None, burst_s=0)
    times = greedy_calls(pacer, 50)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 0.0
    assert gaps == pytest.approx([0.1] * 49)


def test_an_idle_run_may_burst_one_second_of_calls_then_is_spaced() -> None:
    pacer = RatePacer(600, None)  # default burst: one second's worth
    times = greedy_calls(pacer, 30)
    assert times[:10] == [0.0] * 10
    gaps = [b - a for a, b in itertools.pairwise(times[10:])]
    assert times[10] == pytest.approx(0.1)
    assert gaps == pytest.approx([0.1] * 19)


@pytest.mark.parametrize("rpm", [1, 7, 60, 600, 3000])
@pytest.mark.parametrize("burst_s", [0.0, 1.0, 5.0])
def test_no_60_second_window_holds_more_calls_than_the_limit(rpm: int, burst_s: float) -> None:
    pacer = RatePacer(rpm, None, burst_s=burst_s)
    times = greedy_calls(pacer, rpm * 5 + 3)
    assert busiest_window(times) <= rpm
    # ...and the pacer does not waste the allowance: about rpm calls a minute overall.
    minutes = times[-1] / 60.0
    assert len(times) - 1 >= rpm * minutes * 0.98


def test_token_limit_holds_in_every_window_for_calls_of_any_size() -> None:
    rng = random.Random(7)
    costs = [rng.randint(50, 3000) for _ in range(400)]
    pacer = RatePacer(None, 20_000)
    times = greedy_calls(pacer, len(costs), costs)
    assert busiest_window(times, costs) <= 20_000
    spent_per_minute = sum(costs[:-1]) / (times[-1] / 60.0)
    assert spent_per_minute >= 20_000 * 0.9


def test_both_limits_apply_whichever_is_tighter() -> None:
    pacer = RatePacer(600, 6_000, burst_s=0)
    # 1000 tokens a call: the token limit allows 6 a minute, far fewer than 600.
    times = greedy_calls(pacer, 20, 1000)
    assert busiest_window(times) <= 6
    assert times[1] - times[0] == pytest.approx(10.0)


def test_a_call_larger_than_the_token_limit_waits_for_an_empty_window_then_goes_alone() -> None:
    pacer = RatePacer(None, 1000, burst_s=0, window_margin_s=0.05)
    pacer.record(0.0, 400)
    pacer.record(10.0, 400)
    assert pacer.delay_for(10.0, 5000) == pytest.approx(60.05)  # until 70.05
    pacer.record(70.05, 5000)
    # It counted in full: nothing else fits until it has left the window.
    assert pacer.delay_for(70.05, 1) == pytest.approx(60.05)


def test_delay_for_changes_nothing() -> None:
    pacer = RatePacer(60, 1000)
    greedy_calls(pacer, 5, 100)
    first = pacer.delay_for(3.0, 100)
    assert pacer.delay_for(500.0, 100) == 0.0  # asking about a later time...
    assert pacer.delay_for(3.0, 100) == first  # ...does not forget the window


def test_estimate_counts_the_prompt_and_the_expected_answer() -> None:
    prompt = "x" * 4000
    assert estimate_call_tokens(prompt, 10, None) == 1000 + 10 * OUTPUT_TOKENS_PER_CANDIDATE
    assert estimate_call_tokens(prompt, 10, 256) == 1000 + 256


@pytest.mark.parametrize(
    "rpm, tpm, burst",
    [(0, None, 1.0), (None, 0, 1.0), (10, None, -1.0)],
)
def test_bad_settings_are_refused(rpm: int | None, tpm: int | None, burst: float) -> None:
    with pytest.raises(ValueError):
        RatePacer(rpm, tpm, burst_s=burst)


# --- acquire: the async side of the pacer -----------------------------------------------


async def test_acquire_waits_its_turn_on_the_clock() -> None:
    fake = FakeTime()
    pacer = RatePacer(600, None, fake.clock, burst_s=0, sleep=fake.sleep)
    started = []
    for _ in range(5):
        await pacer.acquire(1)
        started.append(fake.now)
    assert started == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_concurrent_acquires_are_served_in_order_of_asking() -> None:
    fake = FakeTime()
    pacer = RatePacer(None, 1200, fake.clock, burst_s=0, window_margin_s=0, sleep=fake.sleep)
    order: list[str] = []

    async def call(name: str, tokens: int) -> None:
        await pacer.acquire(tokens)
        order.append(name)

    await pacer.acquire(600)  # half the minute's tokens spent at t=0
    # The big call asks first; the small ones behind it must not overtake it.
    await asyncio.gather(call("big", 1000), call("small-1", 10), call("small-2", 10))
    assert order == ["big", "small-1", "small-2"]


async def test_acquire_halted_while_waiting_counts_nothing() -> None:
    pacer = RatePacer(1, None, burst_s=0)  # one call a minute, real clock
    stop = asyncio.Event()
    await pacer.acquire(1, stop=stop)
    before = pacer.delay_for(0.0, 1)
    waiting = asyncio.create_task(pacer.acquire(1, stop=stop))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    stop.set()
    with pytest.raises(Halted):
        await asyncio.wait_for(waiting, 1.0)
    assert pacer.delay_for(0.0, 1) == before
    with pytest.raises(Halted):
        await pacer.acquire(1, stop=stop)  # already stopped: no call may start


# --- the adaptive limit -----------------------------------------------------------------


async def grant(limit: AdaptiveLimit, count: int) -> list[Ticket]:
    return [await limit.acquire() for _ in range(count)]


async def test_the_limit_bounds_calls_in_flight() -> None:
    limit = AdaptiveLimit(2, maximum=4)
    await grant(limit, 2)
    third = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    limit.release()
    assert await third == 2
    assert limit.in_flight == 2


async def test_a_429_halves_the_limit_once_per_window_of_calls_in_flight() -> None:
    limit = AdaptiveLimit(8, maximum=8)
    tickets = await grant(limit, 8)
    # Every call of the window answers 429: they were all sent at the old rate.
    lowered = [limit.on_rate_limited(t) for t in tickets]
    assert lowered == [True] + [False] * 7
    assert limit.limit == 4
    for _ in tickets:
        limit.release()
    # A call sent after the decrease that is still refused lowers the limit again.
    later = await limit.acquire()
    assert limit.on_rate_limited(later) is True
    assert limit.limit == 2
    limit.release()


async def test_the_limit_never_drops_below_the_minimum() -> None:
    limit = AdaptiveLimit(4, minimum=2, maximum=4)
    for _ in range(5):
        ticket = await limit.acquire()
        limit.on_rate_limited(ticket)
        limit.release()
    assert limit.limit == 2


async def test_successes_grow_the_limit_by_one_per_window_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(16, maximum=16)
    limit.on_rate_limited(await limit.acquire())
    limit.release()
    assert limit.limit == 8
    for _ in range(8):
        limit.on_success()
    assert limit.limit == 9  # one window of 8 successes: one more slot
    for _ in range(1000):
        limit.on_success()
    assert limit.limit == 16


async def test_growing_the_limit_lets_waiting_calls_start() -> None:
    limit = AdaptiveLimit(1, maximum=2)
    await limit.acquire()
    waiting = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    limit.on_success()  # 1 + 1/1 = 2 slots
    await asyncio.wait_for(waiting, 1.0)
    assert limit.in_flight == 2


async def test_lowering_the_limit_holds_new_calls_until_enough_have_ended() -> None:
    limit = AdaptiveLimit(4, maximum=4)
    tickets = await grant(limit, 4)
    limit.on_rate_limited(tickets[0])  # limit 2, 4 still in flight
    waiting = asyncio.create_task(limit.acquire())
    limit.release()
    limit.release()
    await asyncio.sleep(0)
    assert not waiting.done()  # 2 in flight, limit 2
    limit.release()
    await asyncio.wait_for(waiting, 1.0)


async def test_a_cancelled_or_halted_waiter_holds_no_slot() -> None:
    limit = AdaptiveLimit(1, maximum=1)
    stop = asyncio.Event()
    await limit.acquire()
    cancelled = asyncio.create_task(limit.acquire())
    halted = asyncio.create_task(limit.acquire(stop=stop))
    await asyncio.sleep(0)
    cancelled.cancel()
    stop.set()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    with pytest.raises(Halted):
        await halted
    limit.release()
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.acquire(), 1.0)  # the slot is free again
    with pytest.raises(Halted):
        await limit.acquire(stop=stop)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(4, minimum=5, maximum=8)
    with pytest.raises(ValueError):
        AdaptiveLimit(0)
    with pytest.raises(RuntimeError):
        AdaptiveLimit(1).release()
