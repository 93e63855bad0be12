"""The retry policy: what is retried, how often, how long it waits, and how stop ends it."""

from __future__ import annotations

import asyncio
import time

import pytest

from releval_judge.providers import (
    AuthenticationFailed,
    BadRequest,
    CallCancelled,
    Completion,
    ModelNotFound,
    Prompt,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    RetriesExhausted,
    TransientProviderError,
    backoff_delay,
    call_with_retries,
)

P = Prompt("p")
OK = Completion(text="<grade>2</grade>", input_tokens=10, output_tokens=3)


class FakeClock:
    """Virtual time: `sleep` advances it instantly and records each wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


class ScriptedProvider:
    """Answers each call with the next scripted completion or error; records call times."""

    def __init__(self, script: list[Completion | ProviderError], clock: FakeClock) -> None:
        self._script = list(script)
        self._clock = clock
        self.call_times: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.call_times)

    async def complete(self, prompt: Prompt) -> Completion:
        self.call_times.append(self._clock.now)
        outcome = self._script.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome


def transient(n: int = 0) -> TransientProviderError:
    return TransientProviderError(f"provider error (HTTP 503): down #{n}", status=503)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_success_needs_no_wait(clock: FakeClock) -> None:
    provider = ScriptedProvider([OK], clock)

    assert await call_with_retries(provider, P, max_retries=3, sleep=clock.sleep) == OK
    assert provider.calls == 1
    assert clock.sleeps == []


async def test_transient_errors_are_retried_then_succeed(clock: FakeClock) -> None:
    provider = ScriptedProvider([transient(), transient(), OK], clock)

    result = await call_with_retries(provider, P, max_retries=2, sleep=clock.sleep)

    assert result == OK
    assert provider.calls == 3


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_transient_errors_are_retried_exactly_max_retries_times(
    clock: FakeClock, max_retries: int
) -> None:
    errors: list[Completion | ProviderError] = [transient(n) for n in range(max_retries + 5)]
    provider = ScriptedProvider(errors, clock)

    with pytest.raises(RetriesExhausted) as caught:
        await call_with_retries(provider, P, max_retries=max_retries, sleep=clock.sleep)

    assert provider.calls == max_retries + 1
    assert caught.value.attempts == max_retries + 1
    assert caught.value.last_error is errors[max_retries]
    assert str(caught.value) == (
        f"gave up after {max_retries + 1} attempts: provider error (HTTP 503): down #{max_retries}"
    )


async def test_transient_backoff_grows_with_full_jitter(clock: FakeClock) -> None:
    provider = ScriptedProvider([transient(), transient(), transient(), OK], clock)

    await call_with_retries(provider, P, max_retries=3, sleep=clock.sleep, rand=lambda: 0.5)

    assert clock.sleeps == [0.25, 0.5, 1.0]


async def test_rate_limits_do_not_count_against_max_retries(clock: FakeClock) -> None:
    script: list[Completion | ProviderError] = [
        RateLimited(),
        transient(),
        RateLimited(),
        RateLimited(),
        RateLimited(),
        OK,
    ]
    provider = ScriptedProvider(script, clock)
    waits: list[float] = []

    result = await call_with_retries(
        provider, P, max_retries=1, sleep=clock.sleep, on_rate_limited=waits.append
    )

    assert result == OK
    assert provider.calls == 6
    assert len(waits) == 4


async def test_retry_after_is_honoured(clock: FakeClock) -> None:
    provider = ScriptedProvider([RateLimited(retry_after=7.5), OK], clock)
    waits: list[float] = []

    await call_with_retries(
        provider, P, max_retries=0, sleep=clock.sleep, on_rate_limited=waits.append
    )

    assert clock.sleeps == [7.5]
    assert waits == [7.5]
    assert provider.call_times[1] - provider.call_times[0] >= 7.5


@pytest.mark.parametrize("retry_after", [None, 0.0])
async def test_rate_limits_without_a_usable_retry_after_back_off(
    clock: FakeClock, retry_after: float | None
) -> None:
    script: list[Completion | ProviderError] = [RateLimited(retry_after=retry_after)] * 4
    provider = ScriptedProvider([*script, OK], clock)

    await call_with_retries(
        provider,
        P,
        max_retries=0,
        sleep=clock.sleep,
        rand=lambda: 0.5,
        rate_limit_base=2.0,
        rate_limit_cap=5.0,
    )

    assert clock.sleeps == [1.0, 2.0, 2.5, 2.5]


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationFailed("authentication failed (HTTP 401): bad key", status=401),
        ModelNotFound("model 'x' not found (HTTP 404): nope", status=404),
        QuotaExceeded("quota exceeded (HTTP 429): pay up", status=429),
        BadRequest("bad request (HTTP 400): too long", status=400),
    ],
)
async def test_fatal_errors_and_bad_requests_are_not_retried(
    clock: FakeClock, error: ProviderError
) -> None:
    provider = ScriptedProvider([error, OK], clock)

    with pytest.raises(ProviderError) as caught:
        await call_with_retries(provider, P, max_retries=5, sleep=clock.sleep)

    assert caught.value is error
    assert provider.calls == 1
    assert clock.sleeps == []


async def test_on_retry_sees_every_retried_error(clock: FakeClock) -> None:
    errors: list[Completion | ProviderError] = [transient(), RateLimited(retry_after=1)]
    provider = ScriptedProvider([*errors, OK], clock)
    seen: list[ProviderError] = []

    await call_with_retries(provider, P, max_retries=1, sleep=clock.sleep, on_retry=seen.append)

    assert seen == errors


async def test_stop_before_the_first_attempt_starts_no_call(clock: FakeClock) -> None:
    provider = ScriptedProvider([OK], clock)
    stop = asyncio.Event()
    stop.set()

    with pytest.raises(CallCancelled) as caught:
        await call_with_retries(provider, P, max_retries=3, stop=stop, sleep=clock.sleep)

    assert caught.value.attempts == 0
    assert provider.calls == 0


async def test_stop_during_a_wait_starts_no_further_attempt(clock: FakeClock) -> None:
    provider = ScriptedProvider([transient(), OK], clock)
    stop = asyncio.Event()

    async def sleep_then_stop(delay: float) -> None:
        await clock.sleep(delay)
        stop.set()

    with pytest.raises(CallCancelled) as caught:
        await call_with_retries(provider, P, max_retries=3, stop=stop, sleep=sleep_then_stop)

    assert caught.value.attempts == 1
    assert provider.calls == 1


async def test_default_sleep_wakes_up_when_stop_is_set(clock: FakeClock) -> None:
    provider = ScriptedProvider([RateLimited(retry_after=30), OK], clock)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()

    with pytest.raises(CallCancelled):
        await asyncio.wait_for(call_with_retries(provider, P, max_retries=0, stop=stop), timeout=5)

    assert time.monotonic() - started < 5
    assert provider.calls == 1


async def test_default_sleep_waits_out_the_delay(clock: FakeClock) -> None:
    provider = ScriptedProvider([RateLimited(retry_after=0.02), OK], clock)
    started = time.monotonic()

    result = await call_with_retries(provider, P, max_retries=0, stop=asyncio.Event())

    assert result == OK
    assert time.monotonic() - started >= 0.02


async def test_negative_max_retries_is_rejected(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        await call_with_retries(ScriptedProvider([OK], clock), P, max_retries=-1)


# --- backoff_delay -----------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0)])
def test_backoff_delay_doubles_from_base(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, rand=lambda: 0.0) == 0.0
    almost_one = 1 - 1e-9
    assert ceiling * 0.999 < backoff_delay(attempt, rand=lambda: almost_one) < ceiling


@pytest.mark.parametrize("attempt", [7, 50, 100_000])
def test_backoff_delay_is_capped(attempt: int) -> None:
    assert backoff_delay(attempt, rand=lambda: 0.5) == 15.0
    assert backoff_delay(attempt, base=2, cap=5, rand=lambda: 0.5) == 2.5


def test_backoff_delay_with_real_randomness_stays_in_bounds() -> None:
    delays = [backoff_delay(4) for _ in range(200)]
    assert all(0 <= delay < 4.0 for delay in delays)


def test_backoff_delay_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0)
