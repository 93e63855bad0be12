"""What the simulator has seen, for load tests and benchmarks (``GET /stats``)."""

from __future__ import annotations

from collections import Counter, deque

from pydantic import BaseModel

from releval_judge.sim.dialects import Usage

MAX_CALL_TIMES = 100_000


class StatsReport(BaseModel):
    """The JSON of ``GET /stats``; times are epoch seconds.

    ``calls`` and the call fields count live calls (chat completions and messages on every
    route); the token counts include the requests run inside batches. ``input_tokens`` is
    every prompt token, cached or not; ``cached_input_tokens`` the part OpenAI read from its
    cache plus what Anthropic read (``cache_read_input_tokens``);
    ``cache_creation_input_tokens`` what Anthropic wrote; ``output_tokens`` includes
    ``reasoning_tokens``. The batch fields add up both batch APIs.
    """

    calls: int
    concurrent_peak: int
    in_flight: int
    responses_by_status: dict[str, int]
    rate_limited: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_creation_input_tokens: int
    reasoning_tokens: int
    first_call_at: float | None
    last_call_at: float | None
    call_times: list[float]
    files_uploaded: int
    batches_created: int
    batch_requests: int
    batches_cancelled: int


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
        self.cached_input_tokens = 0
        self.cache_creation_input_tokens = 0
        self.reasoning_tokens = 0
        self.first_call_at: float | None = None
        self.last_call_at: float | None = None
        self._call_times.clear()
        self.files_uploaded = 0
        self.batches_created = 0
        self.batch_requests = 0
        self.batches_cancelled = 0

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

    def billed(self, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens + usage.reasoning_tokens
        self.cached_input_tokens += usage.cached_tokens + usage.cache_read_tokens
        self.cache_creation_input_tokens += usage.cache_creation_tokens
        self.reasoning_tokens += usage.reasoning_tokens

    def file_uploaded(self) -> None:
        self.files_uploaded += 1

    def batch_created(self, requests: int) -> None:
        self.batches_created += 1
        self.batch_requests += requests

    def batch_cancelled(self) -> None:
        self.batches_cancelled += 1

    def report(self) -> StatsReport:
        return StatsReport(
            calls=self.calls,
            concurrent_peak=self.concurrent_peak,
            in_flight=self.in_flight,
            responses_by_status={str(k): v for k, v in sorted(self.responses_by_status.items())},
            rate_limited=self.rate_limited,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens,
            reasoning_tokens=self.reasoning_tokens,
            first_call_at=self.first_call_at,
            last_call_at=self.last_call_at,
            call_times=list(self._call_times),
            files_uploaded=self.files_uploaded,
            batches_created=self.batches_created,
            batch_requests=self.batch_requests,
            batches_cancelled=self.batches_cancelled,
        )
