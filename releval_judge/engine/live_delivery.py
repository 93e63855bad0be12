"""Live delivery: a judging run sent call by call, as fast as its limits allow.

The dispatcher is a loop over batches guarded by two semaphores (the judge's concurrency
and the process-wide provider-call limit) and a halt event, checked before each batch is
dispatched and before each provider attempt. A batch gives its call slot back as soon as
the provider has answered, then writes through the run's context (``engine.run_context``).
"""

from __future__ import annotations

import asyncio

import structlog

from releval_judge.engine.answers import all_failed, answer_outcome, render_batch
from releval_judge.engine.budget import COST_LIMIT_REACHED
from releval_judge.engine.fingerprints import Prepared
from releval_judge.engine.lag import LoopLagMonitor
from releval_judge.engine.run_context import RunContext
from releval_judge.engine.slots import HaltableSemaphore
from releval_judge.prompt import JudgePrompt, TemplateError, TemplateLimitError
from releval_judge.providers import (
    BadRequest,
    Completion,
    Prompt,
    Provider,
    ProviderError,
    RateLimited,
)
from releval_judge.providers.retry import CallCancelled, RetriesExhausted, call_with_retries
from releval_judge.scale import Scale

log = structlog.get_logger(__name__)


class LiveDelivery:
    """Dispatches one run's batches to `provider`; the batch tasks are kept in `in_flight`
    (the run's task waits for them, or cancels them, whatever halted the run)."""

    def __init__(
        self,
        context: RunContext,
        *,
        provider: Provider,
        template: JudgePrompt,
        scale: Scale,
        process_calls: asyncio.Semaphore,
        outage_batches: int,
        lag: LoopLagMonitor | None,
        in_flight: set[asyncio.Task[None]],
    ) -> None:
        self.context = context
        self.config = context.config
        self.control = context.control
        self.provider = provider
        self.template = template
        self.scale = scale
        self.process_calls = process_calls
        self.outage_batches = outage_batches
        self.lag = lag
        self.in_flight = in_flight
        self._consecutive_outages = 0

    async def run(self) -> None:
        """Dispatch every pending batch (or until the run is halted); returns once the last
        one is dispatched, not judged."""
        call_slots = HaltableSemaphore(self.config.concurrency)
        # A batch gives its call slot back as soon as the provider answers, so that writing
        # it never holds a slot; batches still writing are bounded too, which keeps memory
        # bounded by the concurrency however slow the database is.
        alive = HaltableSemaphore(2 * self.config.concurrency)
        self.control.slots += [call_slots, alive]
        if self.control.halt.is_set():
            return
        halt = self.control.halt
        async for batch in self.context.candidate_batches():
            if self.lag is not None:
                held = await self.lag.wait_until_calm()
                if held:
                    self.context.metrics.dispatch_held.inc(held)
            if not await alive.acquire():
                return
            if not await call_slots.acquire():
                alive.release()
                return
            if not await _acquire_unless_halted(self.process_calls, halt):
                call_slots.release()
                alive.release()
                return
            slots = CallSlots(call_slots, self.process_calls)
            task = asyncio.create_task(
                self._guarded_batch(batch, slots), name=f"judging-run-{self.context.run_id}-batch"
            )
            self.in_flight.add(task)

            def done(t: asyncio.Task[None], slots: CallSlots = slots) -> None:
                self.in_flight.discard(t)
                slots.release()
                alive.release()

            task.add_done_callback(done)

    async def _guarded_batch(self, batch: list[Prepared], slots: CallSlots) -> None:
        try:
            await self._judge_batch(batch, slots)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug must not leave the run looking alive: fail it, keep the traceback.
            log.exception("batch_crashed")
            self.control.stop("failed", f"internal error: {type(exc).__name__}: {exc}")

    async def _judge_batch(self, batch: list[Prepared], slots: CallSlots) -> None:
        try:
            prompt = await render_batch(
                self.context.templates, self.template, batch, self.scale, self.config
            )
        except TemplateLimitError as exc:
            # Every batch would meet the same limit: the run fails, nothing is sent.
            self.control.stop("failed", f"prompt_template is over a limit: {exc}")
            return
        except TemplateError as exc:
            # Depends on this batch's documents (a value the template cannot handle).
            await self.context.write(
                all_failed([c.id for c in batch], f"prompt template failed: {exc}")
            )
            return
        budget = self.context.budget
        reserved = 0.0
        if budget is not None:
            reserved = budget.bound(
                prompt_chars=len(prompt.text),
                candidates=len(batch),
                max_output_tokens=self.config.max_output_tokens,
            )
            if not budget.reserve(reserved):
                budget.exhausted = True
                self.control.stop("failed", COST_LIMIT_REACHED)
                return
        try:
            completion = await self._call(prompt, batch, slots)
        finally:
            if budget is not None:
                budget.settle(reserved, 0.0)
        if completion is None:
            return
        if budget is not None:
            budget.spend(completion)
        self._consecutive_outages = 0
        outcome = answer_outcome(
            completion,
            [c.id for c in batch],
            self.scale,
            fingerprints=[c.fingerprint for c in batch],
        )
        await self.context.write(outcome)
        log.debug("batch_judged", judged=len(outcome.judgments), failed=len(outcome.failures))

    async def _call(
        self, prompt: Prompt, batch: list[Prepared], slots: CallSlots
    ) -> Completion | None:
        """The provider's completion, or None when there is none to write: the run halted
        first, or the batch failed (its failures written), or the run must stop.

        Each outcome decides whether the run goes on *before* the call slot is given back,
        so that no further batch is dispatched after a run-fatal answer.
        """
        try:
            completion = await call_with_retries(
                self.provider,
                prompt,
                max_retries=self.config.max_retries,
                stop=self.control.halt,
                on_retry=self._count_retry,
            )
        except CallCancelled:
            return None  # halted before (another) attempt: these candidates stay pending
        except RetriesExhausted as exc:
            self._consecutive_outages += 1
            if self._consecutive_outages >= self.outage_batches:
                self.control.stop("failed", f"provider outage: {exc}")
            slots.release()
            await self.context.write(
                all_failed([c.id for c in batch], f"provider unavailable: {exc}")
            )
            return None
        except BadRequest as exc:
            slots.release()
            reason = f"provider rejected the batch: {exc.message}"
            await self.context.write(all_failed([c.id for c in batch], reason))
            return None
        except ProviderError as exc:
            # Authentication, missing model, exhausted quota, a parameter the model refuses:
            # every later call would fail too.
            log.warning("provider_failed_run", error=exc.message, status=exc.status)
            self.control.stop("failed", exc.message)
            return None
        slots.release()  # the provider has answered: the next batch may call
        return completion

    def _count_retry(self, error: ProviderError) -> None:
        reason = "rate_limited" if isinstance(error, RateLimited) else "transient"
        self.context.metrics.retries.labels(self.config.provider, reason).inc()


class CallSlots:
    """The two semaphore permits a batch holds while its provider call is in flight."""

    def __init__(self, run_slots: HaltableSemaphore, process_slots: asyncio.Semaphore) -> None:
        self._semaphores: tuple[HaltableSemaphore | asyncio.Semaphore, ...] = (
            run_slots,
            process_slots,
        )

    def release(self) -> None:
        """Give both permits back; later calls do nothing."""
        semaphores, self._semaphores = self._semaphores, ()
        for semaphore in semaphores:
            semaphore.release()


async def _acquire_unless_halted(semaphore: asyncio.Semaphore, halt: asyncio.Event) -> bool:
    """Acquire ``semaphore`` unless ``halt`` is set first; True when acquired.

    A dispatcher waiting for a free slot must notice a cancel at once, not when the
    slowest call in flight returns.
    """
    if halt.is_set():
        return False
    if not semaphore.locked():
        await semaphore.acquire()  # free slot: no wait, no helper tasks
    else:
        acquiring = asyncio.ensure_future(semaphore.acquire())
        halted = asyncio.ensure_future(halt.wait())
        try:
            await asyncio.wait({acquiring, halted}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            halted.cancel()
            if acquiring.done() and not acquiring.cancelled():
                semaphore.release()
            else:
                acquiring.cancel()
            raise
        halted.cancel()
        if not acquiring.done():
            acquiring.cancel()  # the semaphore hands a permit it had granted to the next waiter
            return False
    if halt.is_set():
        semaphore.release()
        return False
    return True
