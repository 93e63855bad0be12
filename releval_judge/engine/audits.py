"""Audits: re-judge a seeded sample of a run's judged candidates twice and measure how far
its judge can be trusted (DESIGN.md, "Audits"; docs/reviewing.md, "Auditing a judge").

One ``AuditRunner`` per process, owned by the app's lifespan. Each audit is a named,
tracked task:

1. take the next attempt (``queued``/``running`` → ``running``);
2. draw the sample: whole queries of the run's judged candidates in an order fixed by the
   seed, each in rank order, cut at the sample size. Whole queries, batched as the run
   batched them (by query, ``batch_size`` at a time), keep each document among the same
   neighbours it had when the run judged it: a judge that grades a document against its
   batch (as the simulator's idf does) is then compared with itself, not with a
   different context;
3. pass "repeat": those batches in the same order; pass "order": each batch reversed. Both
   with the run's judge snapshot (its template, model, settings, key), live calls, through
   the judge test's path (``engine.trial.judge_batches``: rendering, retries, parsing);
4. write the figures (``review.audits``) and the usage. The grades themselves are never
   written: an audit cannot change a run's judgments.

A cancel marks the audit cancelled and cancels its task (no new call starts). An audit
found queued or running at start-up (its process stopped) is run again from the start
under the next attempt; only the latest attempt may write the end.
"""

from __future__ import annotations

import asyncio
import secrets as random_source
from collections.abc import Sequence
from typing import Final

import structlog

from releval_judge.engine.errors import RunFailed
from releval_judge.engine.keyed_tasks import KeyedTasks
from releval_judge.engine.provider_setup import provider_config
from releval_judge.engine.runner import Runner
from releval_judge.engine.trial import (
    TrialCandidate,
    TrialOutcome,
    batches_of,
    judge_batches,
    trial_candidate,
)
from releval_judge.errors import DomainError
from releval_judge.models.audits import Audit, AuditCreate
from releval_judge.review.audits import PositionPair, pass_agreement, position_effect, verdict
from releval_judge.store.audits import AuditCandidate, AuditEnd, AuditFigures, AuditStore, AuditWork

log = structlog.get_logger(__name__)

PASS_DEADLINE_S: Final = 3600.0
"""No new attempt of a pass starts after this (a provider that rate limits for ever);
the candidates it did not grade count as failed."""


class AuditRunner:
    def __init__(self, *, audits: AuditStore, runner: Runner) -> None:
        self.audits = audits
        self.runner = runner
        self._tasks = KeyedTasks()

    async def create(self, judging_run_id: str, body: AuditCreate, *, created_by: str) -> Audit:
        """Queue an audit of the run and start it on this replica; the seed is drawn at
        random when the body has none (and reported, so the sample can be drawn again)."""
        seed = body.seed if body.seed is not None else random_source.randbelow(2**31)
        audit = await self.audits.create_audit(
            judging_run_id, sample_size=body.sample_size, seed=seed, created_by=created_by
        )
        log.info("audit_queued", audit_id=audit.id, judging_run_id=audit.ai_judging_run_id)
        self.start(audit.id)
        return audit

    def start(self, audit_id: str) -> None:
        """Start (once) the task that runs the audit."""
        self._tasks.start(audit_id, lambda: self._guarded(audit_id), f"audit-{audit_id}")

    async def cancel(self, audit_id: str) -> Audit:
        """Mark the audit cancelled (409 ``audit_ended`` once ended) and stop its calls."""
        audit = await self.audits.cancel_audit(audit_id)
        self._tasks.cancel(audit_id)
        log.info("audit_cancelled", audit_id=audit_id)
        return audit

    async def resume(self) -> int:
        """Run again, from the start, every audit an earlier process left unended."""
        ids = await self.audits.unended_audits()
        for audit_id in ids:
            log.info("audit_resumed", audit_id=audit_id)
            self.start(audit_id)
        return len(ids)

    async def shutdown(self) -> None:
        """Cancel the running audits' tasks; they run again at the next start."""
        await self._tasks.shutdown()

    async def _guarded(self, audit_id: str) -> None:
        structlog.contextvars.bind_contextvars(audit_id=audit_id)
        try:
            work = await self.audits.start_audit(audit_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Its run was deleted meanwhile (the audit with it), or the database is away:
            # an audit still unended runs again at the next start.
            log.exception("audit_not_started")
            return
        if work is None:
            return  # cancelled before it started
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
        written = await asyncio.shield(self.audits.finish_audit(audit_id, work.attempt, end))
        log.info("audit_ended", status=end.status, written=written, error=end.error)

    async def _audit(self, work: AuditWork) -> AuditEnd:
        config = work.config
        sample = await self.audits.sample(
            work.audit.ai_judging_run_id, seed=work.audit.seed, size=work.audit.sample_size
        )
        await self.audits.set_sample_size(work.audit.id, work.attempt, len(sample))
        batches = batches_of([trial_candidate(c) for c in sample], config.batch_size)
        wire = provider_config(
            config, self.runner.secrets, max_answer_bytes=self.runner.max_answer_bytes
        )
        provider = self.runner.provider_factory(wire, self.runner.session)

        async def judge(pass_batches: Sequence[Sequence[TrialCandidate]]) -> TrialOutcome:
            return await judge_batches(
                config=config,
                provider=provider,
                batches=pass_batches,
                scale=work.scale,
                process_calls=self.runner.process_calls,
                templates=self.runner.templates,
                deadline_s=PASS_DEADLINE_S,
            )

        repeat = await judge(batches)
        order = await judge([list(reversed(b)) for b in batches])
        grades = list(range(work.scale.min, work.scale.max + 1))
        return audit_end(sample, batches, repeat, order, grades)


def audit_end(
    sample: Sequence[AuditCandidate],
    batches: Sequence[Sequence[TrialCandidate]],
    repeat: TrialOutcome,
    order: TrialOutcome,
    grades: Sequence[int],
) -> AuditEnd:
    """The figures of two passes over ``batches`` (``order`` reversed each): repeat against
    the run's grades, order against the repeat, position pairs from each batch's ends."""
    run_grade = {str(c.id): c.grade for c in sample}
    first = _grades(repeat)
    second = _grades(order)
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
    outcomes = (repeat, order)
    return AuditEnd(
        status="completed",
        failed=sum(1 for c in run_grade if c not in first or c not in second),
        calls=sum(1 for o in outcomes for call in o.calls if call.prompt),
        input_tokens=sum(o.input_tokens for o in outcomes),
        output_tokens=sum(o.output_tokens for o in outcomes),
        figures=figures,
    )


def _id(candidate: TrialCandidate) -> str:
    assert candidate.candidate_id is not None  # every audited candidate has one
    return candidate.candidate_id


def _grades(outcome: TrialOutcome) -> dict[str, int]:
    return {
        r.candidate_id: r.grade
        for r in outcome.results
        if r.candidate_id is not None and r.grade is not None
    }
