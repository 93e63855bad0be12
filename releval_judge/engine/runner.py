"""The runner: this replica's judging-run tasks, claimed, renewed, cancelled and stopped.

One per process, owned by the app's lifespan. A run is judged only by the replica that
holds its lease (see docs/decisions.md, "Replicas"): the claim loop takes free runs (queued,
or running with an expired lease) with one statement, the heartbeat renews the leases of
the runs this replica judges, and every write of a run checks the lease's epoch, so a
replica that lost a lease writes nothing more for that run.

Every task is named and tracked. Shutdown halts them (no new batch, no new attempt), gives
calls in flight a grace period while the heartbeat keeps the leases, cancels what is left,
then gives the leases back so that another replica continues at once.

Other work claimed the same way (audits, ``engine/audits.py``) joins as a
:class:`Claimant`: the claim loop (woken by the same notifications) and the heartbeat call
it after the runs' own claim and renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import aiohttp
import asyncpg
import structlog

from releval_judge.engine.control import RunControl
from releval_judge.engine.judging import JudgingRunTask
from releval_judge.engine.key_slots import KeySlots
from releval_judge.engine.lag import LoopLagMonitor
from releval_judge.engine.notifications import Listener
from releval_judge.engine.provider_setup import ProviderFactory
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.models import JudgingRun
from releval_judge.providers import make_provider
from releval_judge.secrets import SecretBox
from releval_judge.store.database import DATABASE_UNAVAILABLE
from releval_judge.store.store import ActiveRun, Lease, Store
from releval_judge.telemetry import Metrics

log = structlog.get_logger(__name__)

# A database error of a lease statement: logged and tried again, never fatal to the loops.
LEASE_ERRORS: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)


class Claimant(Protocol):
    """Work other than runs that replicas claim with leases of its own (audits)."""

    async def claim(self, *, include_own: bool = False) -> int:
        """Claim what is free (and with ``include_own`` what this replica held before a
        restart) and start it; how many."""
        ...

    async def renew(self) -> bool:
        """Renew the leases held; False when the renewal failed."""
        ...


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
        owner: str,
        max_answer_bytes: int,
        templates: TemplateRenderer,
        provider_factory: ProviderFactory = make_provider,
        batch_poll_s: float = 30.0,
        lease_ttl_s: float = 30.0,
        claim_interval_s: float = 5.0,
        max_runs: int = 64,
        judging: bool = True,
        database_url: str | None = None,
        serves_api: bool = True,
    ) -> None:
        self.store = store
        self.session = session
        self.secrets = secrets
        self.outage_batches = outage_batches
        self.batch_poll_s = batch_poll_s
        self.max_answer_bytes = max_answer_bytes
        self.metrics = metrics
        self.owner = owner
        # Judging runs' prompts are rendered in threads of their own (time-limited).
        self.templates = templates
        self.lease_ttl_s = lease_ttl_s
        self.claim_interval_s = claim_interval_s
        self.max_runs = max_runs
        self.judging = judging
        # Back-pressure that keeps API answers quick while runs share the loop; a worker
        # (role `worker`) answers no API, so its runs go at full speed.
        self.lag: LoopLagMonitor | None = (
            LoopLagMonitor(observe=metrics.loop_lag.observe) if serves_api else None
        )
        if self.lag is not None:
            self.lag.start()
        self.provider_factory = provider_factory
        self.process_calls = asyncio.Semaphore(max_provider_calls)
        # Provider keys' concurrency budgets: slots held like leases, for as long.
        self.key_slots = KeySlots(store.key_slots, holder=owner, ttl_s=lease_ttl_s)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._controls: dict[str, RunControl] = {}
        self._leases: dict[str, Lease] = {}
        # When each lease was last renewed (loop time the renewal was *sent*: the lease
        # runs at least ``lease_ttl_s`` from then).
        self._renewed_at: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        # Other work claimed by the same loops (see ``add_claimant``).
        self._claimants: list[Claimant] = []
        self._stopping = False
        # Cancels from any replica and "claim now" arrive by LISTEN/NOTIFY.
        self.listener = (
            Listener(database_url, on_cancel=self._cancel_notified, on_work=self.wake)
            if database_url is not None
            else None
        )

    # --- claiming ------------------------------------------------------------------------

    async def begin(self) -> int:
        """Claim what this replica may judge now (runs it held before a restart, queued
        runs, expired leases) and start the claim loop and the heartbeat; the number of
        runs claimed. A replica that does not judge (role ``api``) starts nothing."""
        if not self.judging:
            return 0
        if self.listener is not None:
            self.listener.start()
        await self.key_slots.begin()
        claimed = await self.claim(include_own=True)
        self._loops = [
            asyncio.create_task(self._claim_forever(), name="runner-claims"),
            asyncio.create_task(self._heartbeat_forever(), name="runner-heartbeat"),
        ]
        return claimed

    def add_claimant(self, claimant: Claimant) -> None:
        """Claim and renew ``claimant``'s work from this runner's loops (from its next tick;
        its start-up claim is its own)."""
        self._claimants.append(claimant)

    def wake(self) -> None:
        """Claim now rather than at the next tick (a run was queued, a lease given back)."""
        self._wake.set()

    async def claim(self, *, include_own: bool = False) -> int:
        """Claim free runs up to ``max_runs`` and start their tasks; how many."""
        free = self.max_runs - len(self._tasks)
        if self._stopping or free <= 0:
            return 0
        loop = asyncio.get_running_loop()
        sent = loop.time()
        claimed = await self.store.claim_judging_runs(
            self.owner,
            ttl_s=self.lease_ttl_s,
            limit=free,
            include_own=include_own,
            exclude=list(self._tasks),
        )
        for active in claimed:
            assert active.lease is not None
            run = active.run
            log.info(
                "judging_run_claimed",
                judging_run_id=run.id,
                epoch=active.lease.epoch,
                judged=run.judged,
                failed=run.failed,
                **({"request_id": active.request_id} if active.request_id else {}),
            )
            if active.lease.epoch > 1:
                log.info(
                    "judging_run_resumed",
                    judging_run_id=run.id,
                    judged=run.judged,
                    failed=run.failed,
                    **({"request_id": active.request_id} if active.request_id else {}),
                )
            self._leases[run.id] = active.lease
            self._renewed_at[run.id] = sent
            self._start(active)
        return len(claimed)

    async def _claim_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.claim_interval_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.claim()
            except LEASE_ERRORS as exc:
                log.warning("claim_failed", error=str(exc))
            for claimant in self._claimants:
                try:
                    await claimant.claim()
                except LEASE_ERRORS as exc:
                    log.warning("claim_failed", error=str(exc), claimant=type(claimant).__name__)

    # --- the heartbeat -------------------------------------------------------------------

    async def _heartbeat_forever(self) -> None:
        interval = self.lease_ttl_s / 3
        while True:
            renewed = await self.renew()
            for claimant in self._claimants:
                renewed = await claimant.renew() and renewed
            # After a failed renewal, try again soon: the deadline is near.
            await asyncio.sleep(interval if renewed else min(1.0, interval / 3))

    async def renew(self) -> bool:
        """Renew every lease this replica holds; stop runs whose lease was taken over or
        cancelled elsewhere. When renewing fails, stop each run whose lease might expire
        before the next try (at two thirds of its time), so that its calls stop before
        another replica can claim it. False when the renewal failed."""
        leases = dict(self._leases)
        if not leases:
            return True
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            async with asyncio.timeout(self.lease_ttl_s / 6):
                held = await self.store.renew_leases(self.owner, leases, ttl_s=self.lease_ttl_s)
        except LEASE_ERRORS as exc:
            log.warning("lease_renewal_failed", error=str(exc), runs=len(leases))
            for run_id in leases:
                if loop.time() - self._renewed_at.get(run_id, sent) >= self.lease_ttl_s * 2 / 3:
                    self._lose(run_id, "the lease could not be renewed in time")
            return False
        for run_id in leases:
            status = held.get(run_id)
            if status is None:
                self._lose(run_id, "another replica holds the run now")
                continue
            self._renewed_at[run_id] = sent
            if status == "cancelled":
                self._halt_cancelled(run_id, noticed_by="heartbeat")
        return True

    def _lose(self, run_id: str, why: str) -> None:
        self._leases.pop(run_id, None)
        self._renewed_at.pop(run_id, None)
        control = self._controls.get(run_id)
        if control is not None:
            control.stop("lease_lost")
        log.warning("lease_lost", judging_run_id=run_id, why=why)

    def _cancel_notified(self, run_id: str) -> None:
        self._halt_cancelled(run_id, noticed_by="notification")

    def _halt_cancelled(self, run_id: str, *, noticed_by: str) -> None:
        control = self._controls.get(run_id)
        if control is not None and not control.halt.is_set():
            control.stop("cancelled")
            log.info("judging_run_cancel_noticed", judging_run_id=run_id, by=noticed_by)

    # --- tasks ---------------------------------------------------------------------------

    def _start(self, active: ActiveRun) -> None:
        """Start a claimed run's task (synchronously registered, so a cancel that follows
        immediately always finds it)."""
        run_id = active.run.id
        if run_id in self._tasks:
            return
        control = RunControl()
        if self._stopping:
            control.stop("shutdown")  # claimed just before a SIGTERM: given back unjudged
        job = JudgingRunTask(
            active=active,
            store=self.store,
            session=self.session,
            secrets=self.secrets,
            control=control,
            process_calls=self.process_calls,
            outage_batches=self.outage_batches,
            metrics=self.metrics,
            templates=self.templates,
            provider_factory=self.provider_factory,
            lag=self.lag,
            batch_poll_s=self.batch_poll_s,
            max_answer_bytes=self.max_answer_bytes,
            key_slots=self.key_slots,
        )
        task = asyncio.create_task(self._guarded(job), name=f"judging-run-{run_id}")
        self._tasks[run_id] = task
        self._controls[run_id] = control

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(run_id, None)
            self._controls.pop(run_id, None)
            if not self._stopping:
                # Stopping: the lease is kept until it is given back, after the grace period.
                self._leases.pop(run_id, None)
                self._renewed_at.pop(run_id, None)
                self.wake()  # room for another run

        task.add_done_callback(forget)

    async def _guarded(self, job: JudgingRunTask) -> None:
        try:
            await job.execute()
            if job.control.reason not in ("shutdown", "lease_lost"):
                await self._give_back(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug or an unreachable database: record it on the run rather than lose it.
            log.exception("judging_run_crashed", judging_run_id=job.run_id)
            try:
                await self.store.finish_judging_run(
                    job.run_id, "failed", f"internal error: {exc}", job.lease
                )
            except Exception:
                log.exception("judging_run_not_marked_failed", judging_run_id=job.run_id)

    async def _give_back(self, job: JudgingRunTask) -> None:
        """The run has ended here (its last write is done): its lease goes back at once, so
        that whoever watches the run (its event stream waits for a cancelled run's calls in
        flight while a replica holds the lease) sees it final now, not when the lease lapses.
        A failure only leaves the lease to expire by itself."""
        try:
            await self.store.release_leases(self.owner, {job.run_id: job.lease})
        except LEASE_ERRORS as exc:
            log.warning("lease_not_released", judging_run_id=job.run_id, error=str(exc))

    async def cancel(self, judging_run_id: str, *, by: str | None) -> JudgingRun:
        """Halt the run's dispatcher first when this replica judges it (no provider call
        starts after this returns), then mark it cancelled by ``by`` (a token's name;
        None: the service itself), which notifies the replica that judges it otherwise;
        raises JudgingRunEnded when it already ended."""
        control = self._controls.get(judging_run_id)
        if control is not None:
            control.stop("cancelled")
        run = await self.store.cancel_judging_run(judging_run_id, by=by)
        log.info("judging_run_cancelled", judging_run_id=judging_run_id, by=by)
        return run

    def active_count(self) -> int:
        return len(self._tasks)

    # --- stopping ------------------------------------------------------------------------

    def stop_dispatching(self) -> None:
        """Start no provider call from now on (SIGTERM, before uvicorn closes connections):
        every run is halted, calls in flight go on and are written."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        for control in self._controls.values():
            control.stop("shutdown")
        log.info("dispatching_stopped", runs=len(self._controls))

    async def shutdown(self, grace_s: float) -> None:
        """Stop starting batches, let calls in flight finish within ``grace_s`` (the
        heartbeat keeps the leases meanwhile), cancel the rest, then give the leases back."""
        self.stop_dispatching()
        if self.lag is not None:
            await self.lag.stop()
        claims = [t for t in self._loops if t.get_name() == "runner-claims"]
        for task in claims:
            task.cancel()
        await asyncio.gather(*claims, return_exceptions=True)
        tasks = list(self._tasks.values())
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self.listener is not None:
            await self.listener.stop()
        await self.key_slots.close()  # no call of this replica is in flight any more
        released = 0
        if self._leases:
            try:
                released = await self.store.release_leases(self.owner, dict(self._leases))
            except LEASE_ERRORS as exc:
                # They expire by themselves within the lease time.
                log.warning("leases_not_released", error=str(exc))
        log.info(
            "runner_stopped",
            finished=len(tasks) - len(pending),
            cancelled=len(pending),
            leases_released=released,
        )
