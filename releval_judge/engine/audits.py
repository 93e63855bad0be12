"""Audits: re-judge a seeded sample of a run's judged candidates twice and measure how far
its judge can be trusted (DESIGN.md, "Audits"; docs/reviewing.md, "Auditing a judge").

One ``AuditRunner`` per process, owned by the app's lifespan. Audits are claimed like
judging runs and by the same loops (it is a :class:`~releval_judge.engine.runner.Claimant`
of the runner; docs/decisions.md, "Audits resume where they stopped"): a replica that
judges claims free audits (queued, or running with a lapsed claim) with one statement that
skips what another claim holds, renews its claims from the runner's heartbeat, and every
write names the claim, so a replica that lost one writes nothing more for that audit. Each
claimed audit is a named, tracked task:

1. draw the sample: whole queries of the candidates its run had judged when the audit was
   queued, in an order fixed by the seed, each in rank order, cut at the sample size.
   Whole queries, batched as the run batched them (by query, ``batch_size`` at a time),
   keep each document among the same neighbours it had when the run judged it: a judge
   that grades a document against its batch (as the simulator's idf does) is then
   compared with itself, not with a different context;
2. pass "repeat": those batches in the same order; pass "order": each batch reversed. Both
   with the run's judge snapshot (its template, model, settings, key), live calls, through
   the judge test's path (``engine.trial.judge_batches``: rendering, retries, parsing).
   Each answered batch is kept at once with its calls and tokens (``audit_answers``); a
   resumed audit asks only the batches of each pass not fully answered yet;
3. write the figures (``review.audits``) from the kept grades. They are never written as
   judgments: an audit cannot change a run's.

A cancel marks the audit cancelled and cancels its task (no new call starts); the holder
notices a cancel made on another replica at its next heartbeat.
"""

from __future__ import annotations

import asyncio
import functools
import secrets as random_source
from collections.abc import Mapping, Sequence
from typing import Final

import structlog

from releval_judge.engine.errors import RunFailed
from releval_judge.engine.keyed_tasks import KeyedTasks
from releval_judge.engine.provider_setup import provider_config
from releval_judge.engine.runner import LEASE_ERRORS, Runner
from releval_judge.engine.trial import (
    TrialCandidate,
    batches_of,
    judge_batches,
    trial_candidate,
)
from releval_judge.errors import DomainError
from releval_judge.models import JudgeTestCall, JudgeTestItem
from releval_judge.models.audits import Audit, AuditCreate
from releval_judge.review.audits import PositionPair, pass_agreement, position_effect, verdict
from releval_judge.store.audits import (
    AnsweredBatch,
    AuditCandidate,
    AuditEnd,
    AuditFigures,
    AuditPass,
    AuditStore,
    AuditWork,
)
from releval_judge.store.judging_runs import Lease

log = structlog.get_logger(__name__)

PASS_DEADLINE_S: Final = 3600.0
"""No new attempt of a pass starts after this (a provider that rate limits for ever);
the candidates it did not grade count as failed."""

MAX_AUDITS_PER_REPLICA: Final = 8
"""Audits one replica runs at once; more wait, queued, for a free place here or elsewhere."""


class AuditRunner:
    def __init__(
        self, *, audits: AuditStore, runner: Runner, max_audits: int = MAX_AUDITS_PER_REPLICA
    ) -> None:
        self.audits = audits
        self.runner = runner
        self.max_audits = max_audits
        self._tasks = KeyedTasks()
        # The claims this replica holds, by audit (renewed by the runner's heartbeat).
        self._leases: dict[str, Lease] = {}
        self._stopping = False
        # One claim at a time (the start-up claim and the runner's loop may overlap): each
        # excludes what the one before took.
        self._claiming = asyncio.Lock()
        runner.add_claimant(self)

    async def create(self, judging_run_id: str, body: AuditCreate, *, created_by: str) -> Audit:
        """Queue an audit of the run for the next claim (the store wakes every judging
        replica's claim loop); the seed is drawn at random when the body has none (and
        reported, so the sample can be drawn again)."""
        seed = body.seed if body.seed is not None else random_source.randbelow(2**31)
        audit = await self.audits.create_audit(
            judging_run_id, sample_size=body.sample_size, seed=seed, created_by=created_by
        )
        log.info("audit_queued", audit_id=audit.id, judging_run_id=audit.ai_judging_run_id)
        self.runner.wake()  # here at once, without waiting for the notification
        return audit

    async def cancel(self, audit_id: str) -> Audit:
        """Mark the audit cancelled (409 ``audit_ended`` once ended) and stop its calls here;
        the replica that holds it elsewhere stops them at its next heartbeat."""
        audit = await self.audits.cancel_audit(audit_id)
        self._tasks.cancel(audit_id)
        log.info("audit_cancelled", audit_id=audit_id)
        return audit

    async def resume(self) -> int:
        """At start-up: claim the audits this replica may run now (its own from before a
        restart, queued ones, lapsed claims); how many. Later claims are made by the
        runner's claim loop. A replica that does not judge (role ``api``) runs no audit."""
        if not self.runner.judging:
            return 0
        return await self.claim(include_own=True)

    async def claim(self, *, include_own: bool = False) -> int:
        """Claim free audits up to ``max_audits`` and start their tasks; how many."""
        async with self._claiming:
            free = self.max_audits - len(self._tasks)
            if self._stopping or free <= 0:
                return 0
            claimed = await self.audits.claim_audits(
                self.runner.owner,
                ttl_s=self.runner.lease_ttl_s,
                limit=free,
                include_own=include_own,
                # A task still ending (its claim lost or cancelled) is not claimed again yet.
                exclude=[*self._leases, *self._tasks.keys()],
            )
            for audit_id, lease in claimed.items():
                log.info("audit_claimed", audit_id=audit_id, attempt=lease.epoch)
                self._leases[audit_id] = lease
                work = functools.partial(self._guarded, audit_id, lease)
                self._tasks.start(audit_id, work, f"audit-{audit_id}")
            return len(claimed)

    async def shutdown(self) -> None:
        """Stop the audits' tasks, then give their claims back, so that another replica (or
        the next start) takes them over at once where they stopped."""
        self._stopping = True
        await self._tasks.shutdown()
        leases, self._leases = dict(self._leases), {}
        if leases:
            try:
                await self.audits.release_claims(self.runner.owner, leases)
            except LEASE_ERRORS as exc:  # they lapse by themselves within the lease time
                log.warning("audit_claims_not_released", error=str(exc))

    async def renew(self) -> bool:
        """Renew every claim held here (called by the runner's heartbeat); stop the audits
        taken over or cancelled elsewhere. False when the renewal failed (a claim that
        lapses meanwhile is taken over, and this replica's writes are refused from then)."""
        leases = dict(self._leases)
        if not leases:
            return True
        try:
            async with asyncio.timeout(self.runner.lease_ttl_s / 6):
                held = await self.audits.renew_claims(
                    self.runner.owner, leases, ttl_s=self.runner.lease_ttl_s
                )
        except LEASE_ERRORS as exc:
            log.warning("audit_claim_renewal_failed", error=str(exc), audits=len(leases))
            return False
        for audit_id in leases:
            status = held.get(audit_id)
            if status is None:
                self._lose(audit_id)
            elif status == "cancelled" and audit_id in self._tasks:
                log.info("audit_cancel_noticed", audit_id=audit_id)
                self._tasks.cancel(audit_id)
        return True

    def _lose(self, audit_id: str) -> None:
        if self._leases.pop(audit_id, None) is not None:
            log.warning("audit_claim_lost", audit_id=audit_id)
        self._tasks.cancel(audit_id)

    async def _guarded(self, audit_id: str, lease: Lease) -> None:
        structlog.contextvars.bind_contextvars(audit_id=audit_id)
        try:
            await self._run(audit_id, lease)
        finally:
            if not self._stopping:  # stopping: the claim is given back by shutdown()
                self._leases.pop(audit_id, None)

    async def _run(self, audit_id: str, lease: Lease) -> None:
        try:
            work = await self.audits.work(audit_id, lease)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Its run was deleted meanwhile (the audit with it), or the database is away:
            # an audit still unended is claimed again once its claim lapses.
            log.exception("audit_not_started")
            return
        try:
            end = await self._audit(work)
        except asyncio.CancelledError:
            raise
        except (DomainError, RunFailed) as exc:
            end = AuditEnd(status="failed", error=str(exc))
        except Exception as exc:
            log.exception("audit_crashed")
            end = AuditEnd(status="failed", error=f"internal error: {exc}")
        # Shielded: the end is written even if a cancel arrives while writing it (a cancel
        # that came first has already made the write a no-op).
        written = await asyncio.shield(self.audits.finish_audit(audit_id, lease, end))
        log.info("audit_ended", status=end.status, written=written, error=end.error)

    async def _audit(self, work: AuditWork) -> AuditEnd:
        config, audit = work.config, work.audit
        sample = await self.audits.sample(audit)
        await self.audits.set_sample_size(audit.id, work.lease, len(sample))
        batches = batches_of([trial_candidate(c) for c in sample], config.batch_size)
        wire = provider_config(
            config, self.runner.secrets, max_answer_bytes=self.runner.max_answer_bytes
        )
        provider = self.runner.provider_factory(wire, self.runner.session)
        kept = await self.audits.answers(audit.id)
        if work.lease.epoch > 1:
            log.info(
                "audit_resumed",
                attempt=work.lease.epoch,
                kept_repeat=len(kept["repeat"]),
                kept_order=len(kept["order"]),
            )
        passes: list[tuple[AuditPass, list[list[TrialCandidate]]]] = [
            ("repeat", batches),
            ("order", [list(reversed(b)) for b in batches]),
        ]
        for pass_name, pass_batches in passes:
            # A batch is asked again whole (its neighbours stay the same) while any of its
            # candidates has no grade kept; a fully answered one never again.
            todo = [b for b in pass_batches if any(_id(c) not in kept[pass_name] for c in b)]

            async def keep(
                index: int,
                call: JudgeTestCall,
                items: list[JudgeTestItem],
                pass_name: AuditPass = pass_name,
            ) -> None:
                answered = AnsweredBatch(
                    grades={
                        i.candidate_id: i.grade
                        for i in items
                        if i.candidate_id is not None and i.grade is not None
                    },
                    calls=1 if call.prompt else 0,
                    input_tokens=call.input_tokens,
                    output_tokens=call.output_tokens,
                )
                # Shielded: an answer that arrived is kept (and its cost counted) even if a
                # cancel comes while it is written.
                written = await asyncio.shield(
                    self.audits.record_batch(audit.id, work.lease, pass_name, answered)
                )
                if not written:
                    self._lose(audit.id)  # taken over: this replica asks nothing more

            await judge_batches(
                config=config,
                provider=provider,
                batches=todo,
                scale=work.scale,
                process_calls=self.runner.process_calls,
                templates=self.runner.templates,
                deadline_s=PASS_DEADLINE_S,
                on_batch=keep,
            )
        kept = await self.audits.answers(audit.id)
        grades = list(range(work.scale.min, work.scale.max + 1))
        return audit_end(sample, batches, kept["repeat"], kept["order"], grades)


def audit_end(
    sample: Sequence[AuditCandidate],
    batches: Sequence[Sequence[TrialCandidate]],
    first: Mapping[str, int],
    second: Mapping[str, int],
    grades: Sequence[int],
) -> AuditEnd:
    """The figures of two passes over ``batches`` (``second`` reversed each), from their
    grades by candidate: repeat against the run's grades, order against the repeat,
    position pairs from each batch's ends."""
    run_grade = {str(c.id): c.grade for c in sample}
    position: list[PositionPair] = []
    for batch in batches:
        if len(batch) < 2:
            continue  # first is also last: no pair
        head, tail = _id(batch[0]), _id(batch[-1])
        if head in first and head in second:
            position.append(PositionPair(first=first[head], last=second[head]))
        if tail in first and tail in second:
            position.append(PositionPair(first=second[tail], last=first[tail]))
    repeat_figures = pass_agreement([(run_grade[c], g) for c, g in first.items()], grades)
    position_figures = position_effect(position)
    figures = AuditFigures(
        repeat=repeat_figures,
        order=pass_agreement([(first[c], g) for c, g in second.items() if c in first], grades),
        position=position_figures,
        verdict=verdict(repeat_figures, position_figures),
    )
    return AuditEnd(
        status="completed",
        failed=sum(1 for c in run_grade if c not in first or c not in second),
        figures=figures,
    )


def _id(candidate: TrialCandidate) -> str:
    assert candidate.candidate_id is not None  # every audited candidate has one
    return candidate.candidate_id
