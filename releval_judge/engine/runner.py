"""The runner: a registry of judging-run tasks, started, cancelled, resumed and stopped.

One per process, owned by the app's lifespan. Every task is named and tracked; shutdown
halts them (no new batch, no new attempt), gives calls in flight a grace period, then
cancels what is left. Runs halted by shutdown stay ``running`` in the database and are
resumed at the next start.
"""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

from releval_judge.engine.judging import JudgingRunTask, ProviderFactory, RunControl
from releval_judge.engine.lag import LoopLagMonitor
from releval_judge.models import JudgingRun
from releval_judge.providers import make_provider
from releval_judge.secrets import SecretBox
from releval_judge.store.store import ActiveRun, Store
from releval_judge.telemetry import Metrics

log = structlog.get_logger(__name__)


class Runner:
    def __init__(
        self,
        *,
        store: Store,
        session: aiohttp.ClientSession,
        secrets: SecretBox,
        max_provider_calls: int,
        outage_batches: int,
        metrics: Metrics,
        provider_factory: ProviderFactory = make_provider,
        batch_poll_s: float = 30.0,
    ) -> None:
        self.store = store
        self.session = session
        self.secrets = secrets
        self.outage_batches = outage_batches
        self.batch_poll_s = batch_poll_s
        self.metrics = metrics
        self.lag = LoopLagMonitor()
        self.lag.start()
        self.provider_factory = provider_factory
        self.process_calls = asyncio.Semaphore(max_provider_calls)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._controls: dict[str, RunControl] = {}
        self._stopping = False

    def start(self, active: ActiveRun) -> None:
        """Start the run's task now (synchronously registered, so a cancel that follows
        immediately always finds it)."""
        run_id = active.run.id
        if self._stopping or run_id in self._tasks:
            return
        control = RunControl()
        job = JudgingRunTask(
            active=active,
            store=self.store,
            session=self.session,
            secrets=self.secrets,
            control=control,
            process_calls=self.process_calls,
            outage_batches=self.outage_batches,
            metrics=self.metrics,
            provider_factory=self.provider_factory,
            lag=self.lag,
            batch_poll_s=self.batch_poll_s,
        )
        task = asyncio.create_task(self._guarded(job), name=f"judging-run-{run_id}")
        self._tasks[run_id] = task
        self._controls[run_id] = control

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(run_id, None)
            self._controls.pop(run_id, None)

        task.add_done_callback(forget)

    async def _guarded(self, job: JudgingRunTask) -> None:
        try:
            await job.execute()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug or an unreachable database: record it on the run rather than lose it.
            log.exception("judging_run_crashed", judging_run_id=job.run_id)
            try:
                await self.store.finish_judging_run(job.run_id, "failed", f"internal error: {exc}")
            except Exception:
                log.exception("judging_run_not_marked_failed", judging_run_id=job.run_id)

    async def cancel(self, judging_run_id: str) -> JudgingRun:
        """Halt the run's dispatcher first (no provider call starts after this returns),
        then mark it cancelled; raises JudgingRunEnded when it already ended."""
        control = self._controls.get(judging_run_id)
        if control is not None:
            control.stop("cancelled")
        run = await self.store.cancel_judging_run(judging_run_id)
        log.info("judging_run_cancelled", judging_run_id=judging_run_id)
        return run

    async def resume(self) -> int:
        """Start every run left queued or running by an earlier process."""
        runs = await self.store.active_judging_runs()
        for active in runs:
            log.info(
                "judging_run_resumed",
                judging_run_id=active.run.id,
                judged=active.run.judged,
                failed=active.run.failed,
            )
            self.start(active)
        return len(runs)

    def active_count(self) -> int:
        return len(self._tasks)

    async def shutdown(self, grace_s: float) -> None:
        """Stop starting batches, let calls in flight finish within ``grace_s``, then
        cancel the rest. Unfinished runs resume at the next start."""
        self._stopping = True
        await self.lag.stop()
        for control in self._controls.values():
            control.stop("shutdown")
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        log.info("runner_stopped", finished=len(tasks) - len(pending), cancelled=len(pending))
