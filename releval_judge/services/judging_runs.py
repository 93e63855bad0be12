"""AI judging runs: start one on an evaluation run, list, get, cancel, list failures, and
the overview of one run (what the UI's judging-run page shows)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from releval_judge.models import (
    CandidateFailure,
    EvaluationRun,
    JudgingRun,
    JudgingRunCreate,
    Page,
)
from releval_judge.models.audits import Audit
from releval_judge.services import Services
from releval_judge.services.run_events import RunStream
from releval_judge.store.review import HumanJudge, ReviewStore
from releval_judge.store.ui import UiStore


async def start_judging_run(
    svc: Services,
    evaluation_run_id: str,
    body: JudgingRunCreate,
    *,
    by: str,
    request_id: str | None,
) -> JudgingRun:
    """Queue a judging run (prerequisites checked in one transaction); a replica that
    judges claims it at once."""
    active = await svc.store.create_judging_run(
        evaluation_run_id,
        body.ai_judge_id,
        max_active=svc.settings.max_active_runs_per_evaluation,
        created_by=by,
        scope=body.scope,
        max_cost=body.max_cost,
        request_id=request_id,
        reuse=body.reuse,
    )
    svc.runner.wake()  # this replica claims it now (others were notified by the store)
    return active.run


async def list_judging_runs(
    svc: Services, evaluation_run_id: str, *, limit: int, cursor: str | None
) -> Page[JudgingRun]:
    return await svc.store.list_judging_runs(evaluation_run_id, limit=limit, cursor=cursor)


async def get_judging_run(svc: Services, judging_run_id: str) -> JudgingRun:
    """The run as it is now."""
    return await svc.store.get_judging_run(judging_run_id)


async def watch_judging_run(
    svc: Services, judging_run_id: str, *, poll_s: float
) -> tuple[JudgingRun, contextlib.AbstractAsyncContextManager[RunStream]]:
    """The run as it is now (NotFound for an unknown run), and a stream of its next
    readings, shared with every other stream of the run on this replica (one database read
    per ``poll_s`` for all of them)."""
    run = await svc.store.get_judging_run(judging_run_id)
    return run, svc.run_events.watch(run, poll_s=poll_s)


async def cancel_judging_run(svc: Services, judging_run_id: str, *, by: str) -> JudgingRun:
    """Stop new provider calls first, then record the cancellation; 409 once ended."""
    return await svc.runner.cancel(judging_run_id, by=by)


async def list_failures(
    svc: Services, judging_run_id: str, *, limit: int, cursor: str | None
) -> Page[CandidateFailure]:
    return await svc.store.list_failures(judging_run_id, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class JudgingRunOverview:
    """A judging run with its evaluation run, a page of its failures, how many of its
    judgments have each grade, the human judges it may be compared with, and its latest
    audits (newest first)."""

    run: JudgingRun
    evaluation: EvaluationRun
    failures: Page[CandidateFailure]
    grade_counts: dict[int, int]
    human_judges: list[HumanJudge]
    audits: list[Audit]


async def judging_run_overview(
    svc: Services,
    judging_run_id: str,
    *,
    failures_per_page: int,
    cursor: str | None,
    audits: int = 5,
) -> JudgingRunOverview:
    """404 for an unknown run; ``cursor`` pages its failures."""
    run = await svc.store.get_judging_run(judging_run_id)
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    failures = await svc.store.list_failures(run.id, limit=failures_per_page, cursor=cursor)
    counts = await UiStore(svc.store).run_grade_counts(run.id)
    human_judges = await ReviewStore(svc.store).human_judges(evaluation.id)
    latest = await svc.audits.audits.list_run_audits(run.id, limit=audits, cursor=None)
    return JudgingRunOverview(run, evaluation, failures, counts, human_judges, latest.items)
