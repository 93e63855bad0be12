"""One provider attempt as a judging run makes it: limited, paced, measured.

``GovernedProvider`` wraps the judge's provider. Each attempt (retries included) takes a
slot of the run's adaptive limit (halved on 429s, regrown on successes), waits while the
provider's last ``Retry-After`` to any call of the run has not passed, takes a slot of the
provider key's concurrency budget when the judge sets ``key_concurrency`` (shared in
PostgreSQL by every run and replica on the key: ``key_slots``), waits for the
pacer (the judge's ``requests_per_minute`` / ``tokens_per_minute``, shared in PostgreSQL by
every run and replica on the same provider key: ``shared_pacing``), and is timed into the
metrics. A halt while waiting means no call starts: it surfaces as
``CallCancelled``, exactly like a halt seen by the retry loop.
"""

from __future__ import annotations

import asyncio
import time

from releval_judge.engine.key_slots import KeySlotPool
from releval_judge.engine.pacing import (
    AdaptiveLimit,
    Halted,
    Pacer,
    Ticket,
    estimate_call_tokens,
)
from releval_judge.providers import Completion, Prompt, Provider, RateLimited
from releval_judge.providers.retry import CallCancelled
from releval_judge.telemetry import Metrics


class GovernedProvider:
    def __init__(
        self,
        inner: Provider,
        *,
        provider_name: str,
        halt: asyncio.Event,
        limit: AdaptiveLimit,
        pacer: Pacer,
        metrics: Metrics,
        candidates_per_call: int,
        max_output_tokens: int | None,
        key_slots: KeySlotPool | None = None,
    ) -> None:
        self.inner = inner
        self.key_slots = key_slots
        self.halt = halt
        self.limit = limit
        self.pacer = pacer
        self.metrics = metrics
        self.candidates_per_call = candidates_per_call
        self.max_output_tokens = max_output_tokens
        self._in_flight = metrics.calls_in_flight.labels(provider_name)
        self._rate_limited = metrics.rate_limited.labels(provider_name)
        self._paused_until = 0.0
        self._seconds = {
            outcome: metrics.call_seconds.labels(provider_name, outcome)
            for outcome in ("ok", "rate_limited", "error")
        }

    async def complete(self, prompt: Prompt) -> Completion:
        try:
            ticket = await self.limit.acquire(stop=self.halt)
        except Halted as exc:
            raise CallCancelled(0) from exc
        try:
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                # Another call of this run was told to wait: asking again before then
                # would only collect more 429s.
                await self._wait(pause)
            pool = self.key_slots
            if pool is None:
                return await self._paced_call(prompt, ticket)
            try:
                held = await pool.acquire(stop=self.halt)
            except Halted as exc:
                raise CallCancelled(0) from exc
            try:
                return await self._paced_call(prompt, ticket)
            finally:
                pool.release(held)
        finally:
            self.limit.release()

    async def _paced_call(self, prompt: Prompt, ticket: Ticket) -> Completion:
        """The call itself, once its turn of the rate budget is taken."""
        if self.pacer.limited:
            estimate = estimate_call_tokens(
                prompt.text, self.candidates_per_call, self.max_output_tokens
            )
            try:
                await self.pacer.acquire(estimate, stop=self.halt)
            except Halted as exc:
                raise CallCancelled(0) from exc
        self._in_flight.inc()
        started = time.perf_counter()
        outcome = "error"
        try:
            completion = await self.inner.complete(prompt)
            outcome = "ok"
        except RateLimited as exc:
            outcome = "rate_limited"
            self._rate_limited.inc()
            self.limit.on_rate_limited(ticket)
            if exc.retry_after is not None and exc.retry_after > 0:
                self._paused_until = max(self._paused_until, time.monotonic() + exc.retry_after)
                await self.pacer.pause(exc.retry_after)
            raise
        finally:
            self._in_flight.dec()
            self._seconds[outcome].observe(time.perf_counter() - started)
        self.limit.on_success()
        return completion

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds; a halt meanwhile means no call starts."""
        try:
            async with asyncio.timeout(delay):
                await self.halt.wait()
        except TimeoutError:
            return
        raise CallCancelled(0)
