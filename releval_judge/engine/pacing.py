"""Pacing provider calls: a judge's configured rate limits, and adaptation to 429s.

Two primitives, no HTTP, each with its clock injectable so that tests need no real time:

* :class:`RatePacer` keeps the calls of one judging run under the judge's
  ``requests_per_minute`` and ``tokens_per_minute``. A GCRA (generic cell rate algorithm)
  spreads the calls out evenly — 600 rpm is one call every 100 ms, after a burst of at
  most one second's worth — and a log of the last 60 s of calls guarantees that no 60-s
  window ever holds more than the limits, which is how providers (and the simulator)
  count. :meth:`RatePacer.delay_for` is the pure part.
* :class:`AdaptiveLimit` is a semaphore whose size follows the provider's answers when no
  limit is configured (AIMD, as TCP does): each 429 halves it, at most once per window
  of calls in flight; every ``limit`` successes add one slot back.

How the dispatcher uses them: one pacer and one limit per judging run, created with the
run's task, used around every provider **attempt** (retries included, so that a retried
call is paced and counted like a first one). The slot comes first and the pace second, so
that the time the pacer records is the time the call really starts::

    pacer = RatePacer(config.requests_per_minute, config.tokens_per_minute)
    limit = AdaptiveLimit(config.concurrency, maximum=config.concurrency)

    estimated = estimate_call_tokens(prompt, len(batch), config.max_output_tokens)
    ticket = await limit.acquire(stop=halt)     # Halted: nothing is held, start no call
    try:
        await pacer.acquire(estimated, stop=halt)   # Halted: start no call
        completion = await provider.complete(prompt)
    except RateLimited:
        limit.on_rate_limited(ticket)
        raise                                   # the retry policy waits as before
    else:
        limit.on_success()
    finally:
        limit.release()

Wrapped as a ``Provider`` whose ``complete`` does the above (turning :class:`Halted` into
``CallCancelled``), it slots into ``call_with_retries`` unchanged. The judge's concurrency
semaphore and the process-wide one stay as they are; the limit only ever lowers the
number of calls in flight below the judge's concurrency.

A judge that sets limits is paced by ``shared_pacing.SharedRatePacer`` instead: the limits
are its provider key's, shared in PostgreSQL by every run and replica on that key.
:class:`RatePacer` remains the pure, in-process form of the same rules (and the no-limit
pacer of judges that set none).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NewType, Protocol

__all__ = [
    "AdaptiveLimit",
    "Halted",
    "Pacer",
    "RatePacer",
    "Ticket",
    "estimate_call_tokens",
]

WINDOW_S = 60.0
#: Tokens a model typically writes per judged candidate (grade + a sentence of reasoning),
#: used when the judge sets no ``max_output_tokens``.
OUTPUT_TOKENS_PER_CANDIDATE = 60

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Ticket = NewType("Ticket", int)


class Pacer(Protocol):
    """What paces a run's calls: :class:`RatePacer` (the run's own limits) or
    ``shared_pacing.SharedRatePacer`` (a provider key's limits, shared in PostgreSQL)."""

    @property
    def limited(self) -> bool: ...

    async def acquire(self, tokens: int, *, stop: asyncio.Event | None = None) -> None: ...

    async def pause(self, seconds: float) -> None: ...


class Halted(Exception):
    """The stop event was set while waiting: no permission was granted, nothing is held."""


def estimate_call_tokens(prompt: str, candidates: int, max_output_tokens: int | None) -> int:
    """Tokens one call will cost, input plus output, before it is made.

    About four characters per token for the prompt (the rule of thumb providers quote),
    plus the answer: ``max_output_tokens`` when the judge caps it, otherwise
    :data:`OUTPUT_TOKENS_PER_CANDIDATE` per candidate. Providers that count rate limits on
    estimates (OpenAI) use the cap, so the cap is the honest figure when it is set.
    """
    output = (
        max_output_tokens
        if max_output_tokens is not None
        else OUTPUT_TOKENS_PER_CANDIDATE * candidates
    )
    return max(1, math.ceil(len(prompt) / 4)) + output


async def first_of(waiter: asyncio.Future[Any], stop: asyncio.Event) -> None:
    """Wait until ``waiter`` is resolved or ``stop`` is set."""
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    either: set[asyncio.Future[Any]] = {waiter, stopper}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        await asyncio.gather(stopper, return_exceptions=True)


async def _wait(delay: float, stop: asyncio.Event | None, sleep: Sleep) -> None:
    """Sleep ``delay`` seconds, or less when ``stop`` is set meanwhile."""
    if stop is None:
        await sleep(delay)
        return
    sleeper = asyncio.ensure_future(sleep(delay))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)


class RatePacer:
    """Decides when each call of one judging run may start.

    Per configured limit (``None`` means unlimited):

    * **spacing** — GCRA: the next call is due one emission interval after the previous
      one (``60 / requests_per_minute`` s per call; ``60 / tokens_per_minute`` s per
      token), with a tolerance of ``burst_s`` seconds so that an idle run may start a
      short burst (at least one call);
    * **window** — the calls started in the last 60 s, with their tokens: a call waits
      until it fits under both limits in the sliding window. A call estimated above the
      whole ``tokens_per_minute`` waits for an empty window and then goes alone (as the
      simulator admits it), rather than never. A call that waits for the window waits
      ``window_margin_s`` longer: the provider counts arrivals, a few milliseconds after
      the call starts here, and arrivals of consecutive calls are not always in order.

    Calls are admitted in the order they asked (FIFO), so a large call is not starved by
    small ones.
    """

    def __init__(
        self,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        clock: Clock = time.monotonic,
        *,
        burst_s: float = 1.0,
        window_margin_s: float = 0.05,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests_per_minute is not None and requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be >= 1, got {requests_per_minute}")
        if tokens_per_minute is not None and tokens_per_minute < 1:
            raise ValueError(f"tokens_per_minute must be >= 1, got {tokens_per_minute}")
        if burst_s < 0 or window_margin_s < 0:
            raise ValueError("burst_s and window_margin_s must be >= 0")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._request_interval = WINDOW_S / requests_per_minute if requests_per_minute else 0.0
        self._token_interval = WINDOW_S / tokens_per_minute if tokens_per_minute else 0.0
        # GCRA tolerance: how far ahead of "now" the theoretical arrival time may run.
        # One call's worth less than the burst, so that burst_s=0 still admits one call.
        self._request_tolerance = max(0.0, burst_s - self._request_interval)
        self._token_tolerance = burst_s
        self._margin = window_margin_s
        self._request_tat = -math.inf
        self._token_tat = -math.inf
        self._window: deque[tuple[float, int]] = deque()
        self._window_tokens = 0
        self._turn = asyncio.Lock()

    @property
    def limited(self) -> bool:
        """False when neither limit is set: :meth:`acquire` then never waits."""
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    async def pause(self, seconds: float) -> None:
        """A 429's Retry-After: nothing to share beyond the run itself (whose
        ``GovernedProvider`` pauses its own calls); see ``shared_pacing`` for keys shared
        across runs and replicas."""

    def delay_for(self, now: float, tokens: int) -> float:
        """Seconds from ``now`` until a call of ``tokens`` may start (0: at once).

        Pure: it reads the state and changes nothing, so it can be asked any time.
        """
        if not self.limited:
            return 0.0
        window = self._window
        first = self._first_live(now)
        live_calls = len(window) - first
        due = now
        rpm = self.requests_per_minute
        if rpm is not None:
            due = max(due, self._request_tat - self._request_tolerance)
            if live_calls >= rpm:
                # The call that must leave the window before one more fits.
                due = max(due, window[len(window) - rpm][0] + WINDOW_S + self._margin)
        tpm = self.tokens_per_minute
        if tpm is not None:
            due = max(due, self._token_tat - self._token_tolerance)
            live_tokens = self._window_tokens - sum(window[i][1] for i in range(first))
            if live_calls and live_tokens + tokens > tpm:
                due = max(due, self._room_at(first, live_tokens, tokens, tpm) + self._margin)
        return max(0.0, due - now)

    def record(self, now: float, tokens: int) -> None:
        """Count a call that starts at ``now``; :meth:`acquire` does it for its callers."""
        if not self.limited:
            return
        window = self._window
        while window and window[0][0] <= now - WINDOW_S:
            self._window_tokens -= window.popleft()[1]
        if self.requests_per_minute is not None:
            self._request_tat = max(self._request_tat, now) + self._request_interval
        if self.tokens_per_minute is not None:
            # Capped at one window ahead: a call above the whole limit waits for an empty
            # window (see delay_for), not for several minutes of allowance.
            self._token_tat = min(
                max(self._token_tat, now) + tokens * self._token_interval, now + WINDOW_S
            )
        window.append((now, tokens))
        self._window_tokens += tokens

    async def acquire(self, tokens: int, *, stop: asyncio.Event | None = None) -> None:
        """Wait until a call estimated at ``tokens`` (input + output) may start, and count
        it as started. Raises :class:`Halted`, counting nothing, when ``stop`` is set
        first (also when it is already set)."""
        if stop is not None and stop.is_set():
            raise Halted
        if not self.limited:
            return
        async with self._turn:
            while True:
                if stop is not None and stop.is_set():
                    raise Halted
                now = self._clock()
                delay = self.delay_for(now, tokens)
                if delay <= 0:
                    self.record(now, tokens)
                    return
                await _wait(delay, stop, self._sleep)

    def _first_live(self, now: float) -> int:
        """Index of the oldest call still inside the window at ``now`` (a call leaves it
        60 s after it started; older ones are pruned at the next :meth:`record`)."""
        first = 0
        window = self._window
        while first < len(window) and window[first][0] <= now - WINDOW_S:
            first += 1
        return first

    def _room_at(self, first: int, live_tokens: int, tokens: int, tpm: int) -> float:
        """When enough calls will have left the window for ``tokens`` more to fit (for a
        call larger than the whole limit: when the window is empty)."""
        remaining = live_tokens
        for i in range(first, len(self._window)):
            started, spent = self._window[i]
            remaining -= spent
            if remaining + tokens <= tpm or remaining <= 0:
                return started + WINDOW_S
        raise AssertionError("unreachable: the window empties eventually")


class AdaptiveLimit:
    """A semaphore whose size adapts to the provider's 429s (AIMD).

    ``acquire`` grants a slot while fewer than ``limit`` calls are in flight and returns
    the call's :data:`Ticket` (the order in which calls were granted). ``on_rate_limited``
    halves the limit (never below ``minimum``) — but only for a call granted after the
    previous decrease: the other calls in flight then were sent at the old rate, and
    their 429s say nothing new. ``on_success`` raises the limit by one slot (up to
    ``maximum``) after each ``limit`` successes: one slot per window of calls. Lowering
    the limit never interrupts calls in flight; new calls wait until the count falls
    below it.
    """

    def __init__(
        self,
        initial: int,
        minimum: int = 1,
        maximum: int | None = None,
        *,
        decrease_factor: float = 0.5,
    ) -> None:
        maximum = initial if maximum is None else maximum
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(
                f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}"
            )
        if not 0 < decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), got {decrease_factor}")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = initial
        self._successes = 0
        self._factor = decrease_factor
        self._in_flight = 0
        self._next_ticket = 0
        self._recovery_point = 0
        self._waiters: deque[asyncio.Future[Ticket]] = deque()

    @property
    def limit(self) -> int:
        """How many calls may be in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self, *, stop: asyncio.Event | None = None) -> Ticket:
        """Wait for a slot; pair with :meth:`release`. Raises :class:`Halted`, holding
        nothing, when ``stop`` is set first (also when it is already set)."""
        if stop is not None and stop.is_set():
            raise Halted
        if not self._waiters and self._in_flight < self.limit:
            return self._grant()
        waiter: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if stop is None:
                return await waiter
            await first_of(waiter, stop)
            if stop.is_set():
                raise Halted
            return waiter.result()
        except BaseException:
            # Cancelled or halted: a slot granted meanwhile goes back (to the next waiter).
            if waiter.done() and not waiter.cancelled():
                self.release()
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give back the slot of a call that has ended (whatever its outcome)."""
        if self._in_flight <= 0:
            raise RuntimeError("release() without a matching acquire()")
        self._in_flight -= 1
        self._wake()

    def on_rate_limited(self, ticket: Ticket) -> bool:
        """The call granted ``ticket`` was answered 429; True when the limit was lowered."""
        if ticket < self._recovery_point:
            return False
        self._limit = max(self.minimum, math.floor(self._limit * self._factor))
        self._successes = 0
        self._recovery_point = self._next_ticket
        return True

    def on_success(self) -> None:
        """A call succeeded: grow by one slot per window of successes."""
        if self._limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self._limit:
            self._successes = 0
            self._limit += 1
            self._wake()

    def _grant(self) -> Ticket:
        self._in_flight += 1
        ticket = Ticket(self._next_ticket)
        self._next_ticket += 1
        return ticket

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._grant())
