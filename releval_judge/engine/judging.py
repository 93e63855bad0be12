"""One AI judging run: stream candidates, batch them, call the provider, write outcomes.

The dispatcher is a loop over batches guarded by two semaphores (the judge's concurrency
and the process-wide provider-call limit) and a halt event, checked before each batch is
dispatched and before each provider attempt. Each batch's judgments, failures and counter
increments are written in one transaction (with the other batches that waited for the
run's previous write: ``engine.writes``), so a crash never leaves counters ahead of rows.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from uuid import UUID

import aiohttp
import structlog

from releval_judge.engine.answers import all_failed, answer_outcome, render_batch
from releval_judge.engine.batch_delivery import BatchDelivery
from releval_judge.engine.batching import BatchBuilder
from releval_judge.engine.budget import CostBudget
from releval_judge.engine.calls import GovernedProvider
from releval_judge.engine.errors import RunFailed
from releval_judge.engine.key_slots import KeySlotPool, KeySlots
from releval_judge.engine.lag import LoopLagMonitor
from releval_judge.engine.pacing import AdaptiveLimit, Pacer, RatePacer
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.engine.shared_pacing import SharedRatePacer, key_id
from releval_judge.engine.slots import HaltableSemaphore
from releval_judge.engine.writes import GroupWriter
from releval_judge.errors import EvaluationRunLocked, LeaseLost
from releval_judge.models import JudgeConfig
from releval_judge.prompt import JudgePrompt, TemplateError, TemplateLimitError
from releval_judge.providers import (
    BadRequest,
    Completion,
    Prompt,
    Provider,
    ProviderConfig,
    ProviderError,
    RateLimited,
    make_provider,
)
from releval_judge.providers.retry import CallCancelled, RetriesExhausted, call_with_retries
from releval_judge.scale import Scale
from releval_judge.secrets import SecretBox
from releval_judge.store.database import DATABASE_UNAVAILABLE
from releval_judge.store.store import (
    ActiveRun,
    BatchOutcome,
    Lease,
    PendingCandidate,
    Store,
)
from releval_judge.telemetry import Metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")

PAGE_SIZE = 1000
# Database calls are retried with backoff for about half a minute (a PostgreSQL restart or
# fail-over) before the run gives up.
DB_ATTEMPTS = 10

ProviderFactory = Callable[[ProviderConfig, aiohttp.ClientSession], Provider]
# lease_lost: another replica holds the run now (or this one could not renew its lease in
# time); this replica stops its calls and leaves the run to the holder.
HaltReason = Literal["cancelled", "failed", "shutdown", "lease_lost"]


class DatabaseUnavailable(Exception):
    """The database stayed unreachable through every retry."""


async def with_database_retry(operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run ``operation``, waiting out a lost database (restart, fail-over) with backoff;
    after ``DB_ATTEMPTS`` tries raise DatabaseUnavailable saying what was being done."""
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            return await operation()
        except DATABASE_UNAVAILABLE as exc:
            if attempt == DB_ATTEMPTS:
                raise DatabaseUnavailable(f"database unavailable while {what}: {exc}") from exc
            log.warning("database_call_retried", what=what, attempt=attempt, error=str(exc))
            await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 5.0))
    raise AssertionError("unreachable")


@dataclass
class RunControl:
    """Shared between the runner (cancel, shutdown) and the run's task."""

    halt: asyncio.Event = field(default_factory=asyncio.Event)
    reason: HaltReason | None = None
    error: str | None = None

    slots: list[HaltableSemaphore] = field(default_factory=list)

    def stop(self, reason: HaltReason, error: str | None = None) -> None:
        """The first reason wins: a run that failed stays failed when cancelled later."""
        if self.reason is None:
            self.reason = reason
            self.error = error
        self.halt.set()
        for semaphore in self.slots:
            semaphore.halt()


def provider_config(
    config: JudgeConfig, secrets: SecretBox, *, max_answer_bytes: int
) -> ProviderConfig:
    """The judge's provider settings with its API key decrypted (or read from the env);
    answers are read up to `max_answer_bytes` (RELEVAL_MAX_ANSWER_BYTES)."""
    key: str | None = None
    if config.api_key_encrypted is not None:
        try:
            key = secrets.decrypt(config.api_key_encrypted)
        except ValueError as exc:
            raise RunFailed(str(exc)) from exc
    elif config.api_key_env:
        try:
            key = secrets.env_key(config.api_key_env)
        except ValueError as exc:
            raise RunFailed(str(exc)) from exc
    return ProviderConfig.model_validate(
        {
            "provider": config.provider,
            "model": config.model,
            "base_url": config.base_url,
            "api_key": key,
            "temperature": config.temperature,
            "max_output_tokens": config.max_output_tokens,
            "request_timeout_s": config.request_timeout_s,
            "reasoning_effort": config.reasoning_effort,
            "max_answer_bytes": max_answer_bytes,
        }
    )


class JudgingRunTask:
    """Runs one judging run to its end (or until halted for shutdown)."""

    def __init__(
        self,
        *,
        active: ActiveRun,
        store: Store,
        session: aiohttp.ClientSession,
        secrets: SecretBox,
        control: RunControl,
        process_calls: asyncio.Semaphore,
        outage_batches: int,
        metrics: Metrics,
        max_answer_bytes: int,
        templates: TemplateRenderer,
        provider_factory: ProviderFactory = make_provider,
        lag: LoopLagMonitor | None = None,
        batch_poll_s: float = 30.0,
        key_slots: KeySlots | None = None,
    ) -> None:
        assert active.lease is not None, "a run is judged only by the holder of its lease"
        self.lease: Lease = active.lease
        self.run = active.run
        self.request_id = active.request_id
        self.seq = active.seq
        self.config = active.config
        self.store = store
        self.session = session
        self.secrets = secrets
        self.control = control
        self.process_calls = process_calls
        self.outage_batches = outage_batches
        self.metrics = metrics
        self.templates = templates
        self.lag = lag
        self.provider_factory = provider_factory
        self.batch_poll_s = batch_poll_s
        self.max_answer_bytes = max_answer_bytes
        self.key_slots = key_slots
        self.budget = _budget(active)
        self._consecutive_outages = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._writer = GroupWriter(self._record, on_written=self._count_statement)

    @property
    def run_id(self) -> str:
        return self.run.id

    async def execute(self) -> None:
        structlog.contextvars.bind_contextvars(judging_run_id=self.run_id)
        if self.request_id is not None:
            # The request that started the run, wherever the run is claimed (another
            # replica, a restart): its id follows the run through the logs.
            structlog.contextvars.bind_contextvars(request_id=self.request_id)
        started = await with_database_retry(
            lambda: self.store.mark_running(self.run_id, self.lease), what="starting the run"
        )
        if started is None:
            log.info("judging_run_not_started", reason="ended or taken over before it started")
            return
        log.info(
            "judging_run_started",
            total=started.total,
            judge=self.config.name,
            model=self.config.model,
            resumed=started.judged + started.failed > 0,
        )
        try:
            provider, template, scale = await self._prepare()
            if self.config.delivery == "batch":
                await self._deliver_in_batches(template, scale)
            else:
                await self._dispatch(provider, template, scale)
            if self.budget is not None and self.budget.exhausted and self.control.reason is None:
                raise RunFailed(self.budget.message())
        except RunFailed as exc:
            self.control.stop("failed", str(exc))
        except LeaseLost:
            self.control.stop("lease_lost")
        except asyncio.CancelledError:
            # Shutdown past its grace period: abandon the calls still in flight (their
            # candidates stay pending and are judged after the restart).
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            raise
        # Calls in flight may still finish and write, whatever halted the run.
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._finish()

    async def _prepare(self) -> tuple[Provider, JudgePrompt, Scale]:
        config = self.config
        wire_config = provider_config(config, self.secrets, max_answer_bytes=self.max_answer_bytes)
        pacer: Pacer = RatePacer(None, None)
        if config.requests_per_minute is not None or config.tokens_per_minute is not None:
            # The limits are the provider key's: shared with every run and replica on it.
            pacer = SharedRatePacer(
                self.store.rate_budgets,
                key_id(wire_config),
                config.requests_per_minute,
                config.tokens_per_minute,
            )
        key_pool: KeySlotPool | None = None
        if config.key_concurrency is not None and self.key_slots is not None:
            # Calls in flight on the provider key, counted over every run and replica.
            key_pool = self.key_slots.pool(key_id(wire_config), config.key_concurrency)
        provider = GovernedProvider(
            self.provider_factory(wire_config, self.session),
            provider_name=config.provider,
            halt=self.control.halt,
            # Without configured limits the run adapts to 429s below its concurrency.
            limit=AdaptiveLimit(config.concurrency, maximum=config.concurrency),
            pacer=pacer,
            metrics=self.metrics,
            candidates_per_call=config.batch_size,
            max_output_tokens=config.max_output_tokens,
            key_slots=key_pool,
        )
        try:
            template = await self.templates.judge_prompt(self.config.prompt_template)
        except TemplateLimitError as exc:
            raise RunFailed(f"prompt_template is over a limit: {exc}") from exc
        except TemplateError as exc:
            raise RunFailed(f"prompt_template does not compile: {exc}") from exc
        evaluation = await self.store.get_evaluation_run(self.run.evaluation_run_id)
        return provider, template, evaluation.scale

    async def _deliver_in_batches(self, template: JudgePrompt, scale: Scale) -> None:
        """The run through the provider's batch API (see `engine.batch_delivery`)."""
        wire_config = provider_config(
            self.config, self.secrets, max_answer_bytes=self.max_answer_bytes
        )
        wire = make_provider(wire_config, self.session)
        delivery = BatchDelivery(
            self,
            provider=wire,
            session=self.session,
            template=template,
            scale=scale,
            poll_s=self.batch_poll_s,
            budget=self.budget,
        )
        await delivery.run()

    async def with_db(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """`with_database_retry`, a database lost for good failing the run."""
        try:
            return await with_database_retry(operation, what=what)
        except DatabaseUnavailable as exc:
            raise RunFailed(str(exc)) from exc

    async def _dispatch(self, provider: Provider, template: JudgePrompt, scale: Scale) -> None:
        call_slots = HaltableSemaphore(self.config.concurrency)
        # A batch gives its call slot back as soon as the provider answers, so that writing
        # it never holds a slot; batches still writing are bounded too, which keeps memory
        # bounded by the concurrency however slow the database is.
        alive = HaltableSemaphore(2 * self.config.concurrency)
        self.control.slots += [call_slots, alive]
        if self.control.halt.is_set():
            return
        halt = self.control.halt
        async for batch in self.candidate_batches():
            if self.lag is not None:
                held = await self.lag.wait_until_calm()
                if held:
                    self.metrics.dispatch_held.inc(held)
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
                self._guarded_batch(provider, template, scale, batch, slots),
                name=f"judging-run-{self.run_id}-batch",
            )
            self._in_flight.add(task)

            def done(t: asyncio.Task[None], slots: CallSlots = slots) -> None:
                self._in_flight.discard(t)
                slots.release()
                alive.release()

            task.add_done_callback(done)

    async def candidate_batches(self) -> AsyncIterator[list[PendingCandidate]]:
        """Batches in (query, rank) order; the next page is read while this one is judged."""
        builder: BatchBuilder[PendingCandidate] = BatchBuilder(self.config.batch_size)
        next_page: asyncio.Task[list[PendingCandidate]] | None = asyncio.create_task(
            self._page(None), name=f"judging-run-{self.run_id}-page"
        )
        try:
            while next_page is not None and not self.control.halt.is_set():
                page = await next_page
                next_page = None
                if len(page) == PAGE_SIZE:
                    last = page[-1]
                    next_page = asyncio.create_task(
                        self._page((last.query_id, last.rank, last.id)),
                        name=f"judging-run-{self.run_id}-page",
                    )
                for candidate in page:
                    closed = builder.add(candidate)
                    if closed is not None:
                        yield closed
        finally:
            if next_page is not None:
                next_page.cancel()
                await asyncio.gather(next_page, return_exceptions=True)
        rest = builder.flush()
        if rest is not None:
            yield rest

    async def _page(self, after: tuple[str, int, UUID] | None) -> list[PendingCandidate]:
        try:
            return await with_database_retry(
                functools.partial(
                    self.store.pending_candidates,
                    self.run.evaluation_run_id,
                    self.run_id,
                    after=after,
                    limit=PAGE_SIZE,
                ),
                what="reading candidates",
            )
        except DatabaseUnavailable as exc:
            raise RunFailed(str(exc)) from exc

    async def _guarded_batch(
        self,
        provider: Provider,
        template: JudgePrompt,
        scale: Scale,
        batch: list[PendingCandidate],
        slots: CallSlots,
    ) -> None:
        try:
            await self._judge_batch(provider, template, scale, batch, slots)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug must not leave the run looking alive: fail it, keep the traceback.
            log.exception("batch_crashed")
            self.control.stop("failed", f"internal error: {type(exc).__name__}: {exc}")

    async def _judge_batch(
        self,
        provider: Provider,
        template: JudgePrompt,
        scale: Scale,
        batch: list[PendingCandidate],
        slots: CallSlots,
    ) -> None:
        try:
            prompt = await render_batch(self.templates, template, batch, scale, self.config)
        except TemplateLimitError as exc:
            # Every batch would meet the same limit: the run fails, nothing is sent.
            self.control.stop("failed", f"prompt_template is over a limit: {exc}")
            return
        except TemplateError as exc:
            # Depends on this batch's documents (a value the template cannot handle).
            await self.write(all_failed([c.id for c in batch], f"prompt template failed: {exc}"))
            return
        reserved = 0.0
        if self.budget is not None:
            reserved = self.budget.bound(
                prompt_chars=len(prompt.text),
                candidates=len(batch),
                max_output_tokens=self.config.max_output_tokens,
            )
            if not self.budget.reserve(reserved):
                self.budget.exhausted = True
                self.control.stop("failed", self.budget.message())
                return
        try:
            completion = await self._call(provider, prompt, batch, slots)
        finally:
            if self.budget is not None:
                self.budget.settle(reserved, 0.0)
        if completion is None:
            return
        if self.budget is not None:
            self.budget.spend(completion)
        self._consecutive_outages = 0
        outcome = answer_outcome(completion, [c.id for c in batch], scale)
        await self.write(outcome)
        log.debug("batch_judged", judged=len(outcome.judgments), failed=len(outcome.failures))

    async def _call(
        self, provider: Provider, prompt: Prompt, batch: list[PendingCandidate], slots: CallSlots
    ) -> Completion | None:
        """The provider's completion, or None when there is none to write: the run halted
        first, or the batch failed (its failures written), or the run must stop.

        Each outcome decides whether the run goes on *before* the call slot is given back,
        so that no further batch is dispatched after a run-fatal answer.
        """
        try:
            completion = await call_with_retries(
                provider,
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
            await self.write(all_failed([c.id for c in batch], f"provider unavailable: {exc}"))
            return None
        except BadRequest as exc:
            slots.release()
            reason = f"provider rejected the batch: {exc.message}"
            await self.write(all_failed([c.id for c in batch], reason))
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
        self.metrics.retries.labels(self.config.provider, reason).inc()

    async def write(self, outcome: BatchOutcome) -> None:
        """Write a batch, merged with the run's other batches that wait for the database
        meanwhile (``engine.writes``; never half-written, also by a shutdown); a lost
        database is waited for (see ``with_database_retry``) before the run fails."""
        try:
            await self._writer.write(outcome)
        except EvaluationRunLocked:
            self.control.stop(
                "failed",
                f"evaluation run {self.run.evaluation_run_id} was locked during the judging "
                "run; a locked run rejects every judgment change (unlock it and start a "
                "new judging run to fill in the gaps)",
            )
            return
        except LeaseLost:
            # Another replica claimed the run: this batch is its to judge again.
            log.warning("batch_not_written", reason="lease lost", epoch=self.lease.epoch)
            self.control.stop("lease_lost")
            return
        except DatabaseUnavailable as exc:
            self.control.stop("failed", str(exc))
            return
        self._count_outcome(outcome)

    async def _record(self, outcome: BatchOutcome) -> None:
        """One statement: `outcome` (often several batches merged) and the run's counters."""
        await with_database_retry(
            lambda: self.store.record_batch(
                evaluation_run_id=self.run.evaluation_run_id,
                judging_run_id=self.run_id,
                run_seq=self.seq,
                judge_name=self.config.name,
                outcome=outcome,
                lease=self.lease,
            ),
            what="writing a batch",
        )

    def _count_statement(self, batches: int) -> None:
        self.metrics.batch_write_statements.inc()
        self.metrics.batches_written.inc(batches)

    def _count_outcome(self, outcome: BatchOutcome) -> None:
        metrics = self.metrics
        if outcome.judgments:
            metrics.candidates.labels("judged").inc(len(outcome.judgments))
        if outcome.failures:
            metrics.candidates.labels("failed").inc(len(outcome.failures))
        metrics.tokens.labels("input").inc(outcome.input_tokens)
        metrics.tokens.labels("output").inc(outcome.output_tokens)

    async def _finish(self) -> None:
        reason = self.control.reason
        if reason == "shutdown":
            log.info("judging_run_paused", reason="service stopping; resumes at next start")
            return
        if reason == "lease_lost":
            log.info("judging_run_handed_over", reason="lease lost; another replica continues")
            return
        if reason == "cancelled":
            # The cancel request records the status itself, right after halting us; ending
            # the run here first would race it and mark a cancelled run completed.
            log.info("judging_run_stopped", reason="cancelled")
            return
        if reason == "failed":
            run = await with_database_retry(
                lambda: self.store.finish_judging_run(
                    self.run_id, "failed", self.control.error, self.lease
                ),
                what="ending the run",
            )
        else:
            run = await with_database_retry(
                lambda: self.store.finish_judging_run(self.run_id, "completed", None, self.lease),
                what="ending the run",
            )
        log.info(
            "judging_run_finished",
            status=run.status,
            judged=run.judged,
            failed=run.failed,
            total=run.total,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            error=run.error,
        )


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


def _budget(active: ActiveRun) -> CostBudget | None:
    """The run's cost limit, with what it has cost so far (a resumed run), or None."""
    prices = active.config.prices
    if active.run.max_cost is None or prices is None:
        return None
    spent = active.run.cost.total if active.run.cost is not None else 0.0
    return CostBudget(
        limit=active.run.max_cost,
        prices=prices,
        factor=active.config.delivery_factor(active.run.delivery),
        spent=spent,
    )
