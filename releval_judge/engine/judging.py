"""One AI judging run, from its claim to its end: the run's task.

The task marks the run running, prepares what every batch needs (the provider settings
with the judge's key, the compiled template, the scale), hands the run to one of the two
ways of delivering it (``engine.live_delivery``: call by call; ``engine.batch_delivery``:
through the provider's batch API), both writing through the run's context
(``engine.run_context``), and records how the run ended unless it was halted for another
replica, a shutdown or a cancel (see `_finish`).
"""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

from releval_judge.engine.batch_delivery import BatchDelivery
from releval_judge.engine.budget import COST_LIMIT_REACHED, cost_limit_message
from releval_judge.engine.control import HaltReason, RunControl
from releval_judge.engine.database_retry import with_database_retry
from releval_judge.engine.errors import RunFailed
from releval_judge.engine.fingerprints import Fingerprinter, shown_keys
from releval_judge.engine.key_slots import KeySlots
from releval_judge.engine.lag import LoopLagMonitor
from releval_judge.engine.live_delivery import LiveDelivery
from releval_judge.engine.provider_setup import (
    ProviderFactory,
    governed_provider,
    provider_config,
)
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.engine.run_context import RunContext
from releval_judge.errors import LeaseLost
from releval_judge.prompt import JudgePrompt, TemplateError, TemplateLimitError
from releval_judge.providers import ProviderConfig, make_provider
from releval_judge.scale import Scale
from releval_judge.secrets import SecretBox
from releval_judge.store.store import ActiveRun, Lease, Store
from releval_judge.telemetry import Metrics

# ProviderFactory, RunControl and provider_config live in modules of their own
# (`provider_setup`, `control`); they stay importable from here, where they were first.
__all__ = ["HaltReason", "JudgingRunTask", "ProviderFactory", "RunControl", "provider_config"]

log = structlog.get_logger(__name__)


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
        self.context = RunContext(
            active, store=store, control=control, metrics=metrics, templates=templates
        )
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
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def lease(self) -> Lease:
        return self.context.lease

    async def execute(self) -> None:
        structlog.contextvars.bind_contextvars(judging_run_id=self.run_id)
        if self.context.request_id is not None:
            # The request that started the run, wherever the run is claimed (another
            # replica, a restart): its id follows the run through the logs.
            structlog.contextvars.bind_contextvars(request_id=self.context.request_id)
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
        budget = self.context.budget
        try:
            wire_config, template, scale = await self._prepare()
            if self.config.delivery == "batch":
                await self._deliver_in_batches(wire_config, template, scale)
            else:
                await self._deliver_live(wire_config, template, scale)
            if budget is not None and budget.exhausted and self.control.reason is None:
                raise RunFailed(COST_LIMIT_REACHED)
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

    async def _prepare(self) -> tuple[ProviderConfig, JudgePrompt, Scale]:
        wire_config = provider_config(
            self.config, self.secrets, max_answer_bytes=self.max_answer_bytes
        )
        try:
            template = await self.templates.judge_prompt(self.config.prompt_template)
        except TemplateLimitError as exc:
            raise RunFailed(f"prompt_template is over a limit: {exc}") from exc
        except TemplateError as exc:
            raise RunFailed(f"prompt_template does not compile: {exc}") from exc
        evaluation = await self.store.get_evaluation_run(self.context.run.evaluation_run_id)
        try:
            shown = await self.templates.run(
                shown_keys, self.config.prompt_template, template, what="render a probe batch"
            )
        except TemplateLimitError as exc:
            raise RunFailed(f"prompt_template is over a limit: {exc}") from exc
        await self.context.fingerprint_with(Fingerprinter(self.config, evaluation.scale, shown))
        return wire_config, template, evaluation.scale

    async def _deliver_live(
        self, wire_config: ProviderConfig, template: JudgePrompt, scale: Scale
    ) -> None:
        """The run call by call (see `engine.live_delivery`)."""
        provider = governed_provider(
            self.config,
            wire_config,
            factory=self.provider_factory,
            session=self.session,
            halt=self.control.halt,
            rate_budgets=self.store.rate_budgets,
            key_slots=self.key_slots,
            metrics=self.metrics,
        )
        delivery = LiveDelivery(
            self.context,
            provider=provider,
            template=template,
            scale=scale,
            process_calls=self.process_calls,
            outage_batches=self.outage_batches,
            lag=self.lag,
            in_flight=self._in_flight,
        )
        await delivery.run()

    async def _deliver_in_batches(
        self, wire_config: ProviderConfig, template: JudgePrompt, scale: Scale
    ) -> None:
        """The run through the provider's batch API (see `engine.batch_delivery`)."""
        delivery = BatchDelivery(
            self.context,
            provider=make_provider(wire_config, self.session),
            session=self.session,
            template=template,
            scale=scale,
            poll_s=self.batch_poll_s,
        )
        await delivery.run()

    async def _cost_limit_error(self) -> str:
        """The cost limit's error, read once the calls in flight have written: the cost
        the run shows, and the scope that judges what it did not reach."""
        run = await self.store.get_judging_run(self.run_id)
        rest = 0
        if run.scope == "all":
            rest = await self.store.count_unreached_judged_elsewhere(run)
        return cost_limit_message(run, rest_judged_elsewhere=rest)

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
        failed = reason == "failed"
        status, error = ("failed", self.control.error) if failed else ("completed", None)
        if failed and error == COST_LIMIT_REACHED:
            error = await with_database_retry(self._cost_limit_error, what="reading the cost")
        run = await with_database_retry(
            lambda: self.store.finish_judging_run(self.run_id, status, error, self.lease),
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
