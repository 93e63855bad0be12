"""Panel runs: start the members as normal judging runs, wait for them, write the aggregate.

One ``PanelRunner`` per process, owned by the app's lifespan. Each running panel run has a
named, tracked task that polls the store (every ``poll_s``) until every member judging
run has ended, then aggregates their grades (``panels.aggregate``) and writes the result
in one statement (``store/panels.sql`` ``finish_panel_run``). The members are started and
cancelled only through ``Store.create_judging_run`` and ``Runner.start``/``cancel``, the
functions the judging-run route uses, so each member has every behaviour of a judging run
(resume, cancel, failures, lock). State lives in PostgreSQL: a panel run left running by
an earlier process is resumed at start-up by polling again.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from releval_judge.engine.keyed_tasks import KeyedTasks
from releval_judge.engine.runner import Runner
from releval_judge.errors import DomainError, JudgingRunEnded, TooManyActiveRuns
from releval_judge.models import JudgingRunScope, ReuseMode
from releval_judge.panels.aggregate import aggregate, disagrees, panel_agreement
from releval_judge.panels.models import PanelRun
from releval_judge.store.panels import AggregateWrite, PanelStore
from releval_judge.store.store import Store

log = structlog.get_logger(__name__)

ENDED = ("completed", "failed", "cancelled")


class PanelRunner:
    def __init__(
        self, *, store: Store, runner: Runner, max_active: int, poll_s: float = 0.5
    ) -> None:
        self.store = store
        self.panels = PanelStore(store.pool)
        self.runner = runner
        self.max_active = max_active
        self.poll_s = poll_s
        self._tasks = KeyedTasks()

    async def start_panel_run(
        self,
        evaluation_run_id: str,
        panel_id: str,
        scope: JudgingRunScope,
        *,
        created_by: str,
        reuse: ReuseMode = "fingerprint",
    ) -> PanelRun:
        """Queue one judging run per member and start watching them; ``created_by`` (a
        token's name) started the panel run and so each member.

        Prerequisites of the evaluation run (exists, completed, not locked) are those of a
        judging run, checked by the first member's start; a panel whose members would take
        the evaluation run past its limit of active judging runs is refused before any
        member starts. Should a later member still be refused, the members already started
        are cancelled, the panel run ends ``failed`` with the reason, and the error is raised.
        """
        panel = await self.panels.get_panel(panel_id)
        await self.store.get_evaluation_run(evaluation_run_id)  # NotFound: 404
        active = await self.panels.active_judging_runs(evaluation_run_id)
        if active + len(panel.ai_judge_ids) > self.max_active:
            raise TooManyActiveRuns(evaluation_run_id, self.max_active)
        first = await self.store.create_judging_run(
            evaluation_run_id,
            panel.ai_judge_ids[0],
            max_active=self.max_active,
            created_by=created_by,
            scope=scope,
            reuse=reuse,
        )
        self.runner.wake()  # queued: this replica (or another) claims it
        started = [first.run.id]
        try:
            panel_run_id = await self.panels.create_panel_run(
                panel.id,
                evaluation_run_id,
                scope=scope,
                members=len(panel.ai_judge_ids),
                created_by=created_by,
            )
        except BaseException:
            await self._cancel_member(first.run.id, by=None)
            raise
        try:
            await self.panels.add_member(panel_run_id, 0, first.run.id)
            for position, judge_id in enumerate(panel.ai_judge_ids[1:], start=1):
                member = await self.store.create_judging_run(
                    evaluation_run_id,
                    judge_id,
                    max_active=self.max_active,
                    created_by=created_by,
                    scope=scope,
                    reuse=reuse,
                )
                self.runner.wake()
                await self.panels.add_member(panel_run_id, position, member.run.id)
                started.append(member.run.id)
        except DomainError as exc:
            for judging_run_id in started:
                await self._cancel_member(judging_run_id, by=None)
            await self.panels.end_panel_run(
                panel_run_id, "failed", f"member {len(started) + 1} not started: {exc.message}"
            )
            raise
        log.info(
            "panel_run_started",
            panel_run_id=panel_run_id,
            panel=panel.name,
            members=started,
        )
        self.watch(panel_run_id)
        return await self.panels.get_panel_run(panel_run_id)

    def watch(self, panel_run_id: str) -> None:
        """Start (once) the task that waits for the members and writes the aggregate."""
        self._tasks.start(
            panel_run_id, lambda: self._guarded(panel_run_id), f"panel-run-{panel_run_id}"
        )

    async def _guarded(self, panel_run_id: str) -> None:
        structlog.contextvars.bind_contextvars(panel_run_id=panel_run_id)
        try:
            await self._watch(panel_run_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("panel_run_crashed", panel_run_id=panel_run_id)
            try:
                await self.panels.end_panel_run(panel_run_id, "failed", f"internal error: {exc}")
            except Exception:
                log.exception("panel_run_not_marked_failed", panel_run_id=panel_run_id)

    async def _watch(self, panel_run_id: str) -> None:
        while True:
            run = await self.panels.get_panel_run(panel_run_id)
            if run.status != "running":
                return
            if len(run.members) < run.member_count:
                # The process stopped between starting two members: the panel is incomplete.
                for member in run.members:
                    await self._cancel_member(member.ai_judging_run_id, by=None)
                await self.panels.end_panel_run(
                    panel_run_id,
                    "failed",
                    f"only {len(run.members)} of {run.member_count} members were started "
                    "(the service stopped meanwhile); start the panel again",
                )
                return
            if all(m.status in ENDED for m in run.members):
                await self._finish(run)
                return
            await asyncio.sleep(self.poll_s)

    async def _finish(self, run: PanelRun) -> None:
        unfinished = [m for m in run.members if m.status != "completed"]
        if unfinished:
            member = unfinished[0]
            status = "failed" if member.status == "failed" else "cancelled"
            reason = f"member {member.ai_judge_name} ({member.ai_judging_run_id}) {member.status}"
            if member.error:
                reason += f": {member.error}"
            await self.panels.end_panel_run(run.id, status, reason + "; no aggregate written")
            log.info("panel_run_ended", panel_run_id=run.id, status=status)
            return
        graded = await self.panels.member_grades(run.id)
        writes = []
        for candidate_id, grades in graded:
            grade = aggregate(grades, run.aggregation)
            writes.append(
                AggregateWrite(
                    candidate_id=candidate_id,
                    grade=grade,
                    disagreement=disagrees(grades),
                    reasoning=(
                        f"judge panel {run.panel_name!r} ({run.aggregation} of "
                        f"{len(grades)} of {len(run.members)} members): member grades "
                        + ", ".join(map(str, grades))
                    ),
                )
            )
        agreement = panel_agreement(len(run.members), [g for _, g in graded])
        written, still_running = await self.panels.finish_panel_run(
            run.evaluation_run_id, run.id, run.panel_name, writes, agreement
        )
        if written:
            log.info(
                "panel_run_completed",
                panel_run_id=run.id,
                candidates=agreement.candidates,
                disagreements=agreement.disagreements,
                fleiss_kappa=agreement.fleiss_kappa,
            )
        elif still_running:
            await self.panels.end_panel_run(
                run.id,
                "failed",
                f"evaluation run {run.evaluation_run_id} was locked; the panel's aggregate "
                "was not written (unlock it and start the panel again)",
            )
            log.info("panel_run_failed_locked", panel_run_id=run.id)

    async def cancel(self, panel_run_id: str, *, by: str) -> PanelRun:
        """Mark the panel run cancelled by ``by`` (a token's name; 409 once ended), then
        cancel its active members through the runner, by the same name (no new provider
        call starts after this returns)."""
        run = await self.panels.cancel_panel_run(panel_run_id, by=by)
        for member in run.members:
            if member.status in ("queued", "running"):
                await self._cancel_member(member.ai_judging_run_id, by=by)
        log.info("panel_run_cancelled", panel_run_id=panel_run_id, by=by)
        return await self.panels.get_panel_run(panel_run_id)

    async def _cancel_member(self, judging_run_id: str, *, by: str | None) -> None:
        """Cancel a member; ``by`` None: the service itself (the panel could not start)."""
        with contextlib.suppress(JudgingRunEnded):  # it ended on its own meanwhile
            await self.runner.cancel(judging_run_id, by=by)

    async def resume(self) -> int:
        """Watch again every panel run left running by an earlier process."""
        ids = await self.panels.running_panel_runs()
        for panel_run_id in ids:
            log.info("panel_run_resumed", panel_run_id=panel_run_id)
            self.watch(panel_run_id)
        return len(ids)

    def active_count(self) -> int:
        return len(self._tasks)

    async def shutdown(self) -> None:
        """Cancel the watching tasks (they only poll); running panel runs resume at the
        next start."""
        await self._tasks.shutdown()
