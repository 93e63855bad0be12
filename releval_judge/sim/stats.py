"""What the simulator has seen, for load tests and benchmarks (``GET /stats``)."""

from __future__ import annotations

from collections import Counter, deque

from pydantic import BaseModel

MAX_CALL_TIMES = 100_000


class StatsReport(BaseModel):
    """The JSON of ``GET /stats``; times are epoch seconds."""

    calls: int
    concurrent_peak: int
    in_flight: int
    responses_by_status: dict[str, int]
    rate_limited: int
    input_tokens: int
    output_tokens: int
    first_call_at: float | None
    last_call_at: float | None
    call_times: list[float]


class SimStats:
    """Counters updated by the request handlers; one event loop, so no locking."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._call_times: deque[float] = deque(maxlen=MAX_CALL_TIMES)
        self.reset()

    def reset(self) -> None:
        """Forget everything but the calls still in flight."""
        self.calls = 0
        self.concurrent_peak = self.in_flight
        self.responses_by_status: Counter[int] = Counter()
        self.rate_limited = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.first_call_at: float | None = None
        self.last_call_at: float | None = None
        self._call_times.clear()

    def call_started(self, now: float) -> None:
        self.calls += 1
        self.in_flight += 1
        self.concurrent_peak = max(self.concurrent_peak, self.in_flight)
        if self.first_call_at is None:
            self.first_call_at = now
        self.last_call_at = now
        self._call_times.append(now)

    def call_ended(self) -> None:
        self.in_flight -= 1

    def responded(self, status: int) -> None:
        self.responses_by_status[status] += 1
        if status == 429:
            self.rate_limited += 1

    def billed(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def report(self) -> StatsReport:
        return StatsReport(
            calls=self.calls,
            concurrent_peak=self.concurrent_peak,
            in_flight=self.in_flight,
            responses_by_status={str(k): v for k, v in sorted(self.responses_by_status.items())},
            rate_limited=self.rate_limited,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            first_call_at=self.first_call_at,
            last_call_at=self.last_call_at,
            call_times=list(self._call_times),
        )
