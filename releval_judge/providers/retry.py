"""The retry policy for one provider call: which errors are retried, how long to wait.

`backoff_delay` is the pure part; `call_with_retries` is the loop, with its clock (`sleep`)
and randomness (`rand`) injectable so tests need no real time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from releval_judge.providers.base import Completion, Prompt, Provider
from releval_judge.providers.errors import ProviderError, RateLimited, TransientProviderError

# Far beyond any cap: keeps 2**n finite after days of 429s.
_MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Wait before retry number `attempt` (1-based): exponential backoff with full jitter.

    Uniform in [0, min(cap, base * 2**(attempt-1))) for `rand` in [0, 1); full jitter
    spreads out the retries of calls that failed together.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    return ceiling * rand()


class RetriesExhausted(Exception):
    """Transient failures outlasted `max_retries`; `last_error` is the final one."""

    def __init__(self, last_error: ProviderError, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last_error.message}")
        self.last_error = last_error
        self.attempts = attempts


class CallCancelled(Exception):
    """The stop event was set, so no (further) attempt was started.

    `attempts` counts the attempts made before the stop.
    """

    def __init__(self, attempts: int) -> None:
        super().__init__(f"call cancelled after {attempts} attempts")
        self.attempts = attempts


async def call_with_retries(
    provider: Provider,
    prompt: Prompt,
    *,
    max_retries: int,
    stop: asyncio.Event | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_rate_limited: Callable[[float], None] | None = None,
    on_retry: Callable[[ProviderError], None] | None = None,
    rand: Callable[[], float] = random.random,
    rate_limit_base: float = 1.0,
    rate_limit_cap: float = 60.0,
) -> Completion:
    """`provider.complete(prompt)`, retried according to the run's policy.

    - `TransientProviderError`: retried after `backoff_delay` up to `max_retries` times
      (retries after the first attempt), then `RetriesExhausted`.
    - `RateLimited`: retried without limit and without counting against `max_retries`,
      after `retry_after` when the provider gave one (never sooner), otherwise after an
      exponential backoff with full jitter from `rate_limit_base` up to `rate_limit_cap`.
    - Any other `ProviderError` (fatal errors, `BadRequest`) propagates unretried.
    - If `stop` is set before any attempt, `CallCancelled` is raised and no call starts.
      The default `sleep` wakes up as soon as `stop` is set; a custom `sleep` that returns
      early has the same effect, since `stop` is checked again before the next attempt.

    Before each wait, `on_retry(error)` is called, and for a 429 also
    `on_rate_limited(delay)`.
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    wait = sleep if sleep is not None else _stoppable_sleep(stop)
    attempts = 0
    transient_failures = 0
    rate_limits = 0
    while True:
        if stop is not None and stop.is_set():
            raise CallCancelled(attempts)
        attempts += 1
        try:
            return await provider.complete(prompt)
        except RateLimited as exc:
            rate_limits += 1
            error: ProviderError = exc
            # A Retry-After of 0 would otherwise let a throttled provider be hammered.
            if exc.retry_after is not None and exc.retry_after > 0:
                delay = exc.retry_after
            else:
                delay = backoff_delay(
                    rate_limits, base=rate_limit_base, cap=rate_limit_cap, rand=rand
                )
            if on_rate_limited is not None:
                on_rate_limited(delay)
        except TransientProviderError as exc:
            transient_failures += 1
            if transient_failures > max_retries:
                raise RetriesExhausted(exc, attempts) from exc
            error = exc
            delay = backoff_delay(transient_failures, rand=rand)
        if on_retry is not None:
            on_retry(error)
        await wait(delay)


def _stoppable_sleep(stop: asyncio.Event | None) -> Callable[[float], Awaitable[None]]:
    """A sleep that returns early when `stop` is set (the loop then raises CallCancelled)."""

    async def sleep(delay: float) -> None:
        if stop is None:
            await asyncio.sleep(delay)
            return
        try:
            async with asyncio.timeout(delay):
                await stop.wait()
        except TimeoutError:
            pass

    return sleep
