"""The pages of evaluation runs and of AI judging runs: the list of runs, one run with
its judging runs, panel runs and grade distribution, one judging run with its failures."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models import EvaluationRun
from releval_judge.models.audits import Audit
from releval_judge.scale import Scale
from releval_judge.services import evaluation_runs, judging_runs
from releval_judge.ui.charts import grade_by_position_svg, grade_distribution_svg
from releval_judge.ui.pages import Session, cursor, page, render
from releval_judge.web.auth import services

JUDGING_RUNS_PER_PAGE = 20
FAILURES_PER_PAGE = 100
RUNS_PER_PAGE = 50

# What the judging-run card of a run that is not there yet is rendered from: the page's
# script fills a copy in for a run it starts (see macros.html).
BLANK_RUN: dict[str, Any] = {
    "id": "",
    "evaluation_run_id": "",
    "ai_judge_id": None,
    "ai_judge_name": "",
    "status": "queued",
    "scope": "all",
    "total": 0,
    "judged": 0,
    "reused": 0,
    "failed": 0,
    "progress": 0.0,
    "input_tokens": 0,
    "output_tokens": 0,
    "partially_judged": False,
    "error": None,
    "cost": None,
    "cached_input_tokens": 0,
    "max_cost": None,
    "delivery": "live",
    "provider_batches": [],
    "created_by": None,
    "cancelled_by": None,
}


# An audit's verdict in the page's words, with what it means for the run's grades.
VERDICTS: dict[str, tuple[str, str]] = {
    "consistent": (
        "consistent",
        "Asked again, the judge gave the run's grades, and a document's place in its batch "
        "did not move its grade: as far as this sample shows, its grades can be trusted.",
    ),
    "order_sensitive": (
        "order-sensitive",
        "A document's grade depends on where it stands in its batch (first or last): "
        "batching biases this judge. A smaller batch size or another model may help.",
    ),
    "unstable": (
        "unstable",
        "Asked again with the same prompts, the judge changed more than 1 grade in 5: its "
        "grades are noisy. A lower temperature or another model may help.",
    ),
}
LATEST_AUDITS = 5


def audit_view(audit: Audit, scale: Scale) -> dict[str, Any]:
    """What an audit card shows beside the audit: its verdict in words and the plot of
    grade by position (None until the audit reports both means)."""
    position = audit.position
    chart = None
    if position is not None and position.mean_first is not None and position.mean_last is not None:
        chart = grade_by_position_svg(
            position.mean_first,
            position.mean_last,
            scale,
            title="Mean grade of the same documents when first and when last in their batch",
            ident=f"position-{audit.id}",
        )
    word, meaning = VERDICTS.get(audit.verdict or "", (None, None))
    return {"audit": audit, "verdict": word, "meaning": meaning, "chart": chart}


def start_blocked_reason(evaluation: EvaluationRun) -> str | None:
    """Why AI judging cannot start on this run now, in the words the UI shows; None if it can."""
    if evaluation.status != "completed":
        return (
            f"This evaluation run is {evaluation.status}. AI judging needs a completed run: "
            "once its candidates are all in, mark it completed with PATCH "
            f'/api/v1/evaluations/runs/{evaluation.id} {{"status": "completed"}}.'
        )
    if evaluation.locked:
        return "This evaluation run is locked: a locked run rejects every judgment change."
    return None


@page
async def runs_page(request: Request, session: Session) -> Response:
    runs = await evaluation_runs.list_evaluation_runs(
        services(request), limit=RUNS_PER_PAGE, cursor=cursor(request)
    )
    return render(request, session, "runs.html", {"nav": "runs", "runs": runs})


@page
async def run_page(request: Request, session: Session) -> Response:
    overview = await evaluation_runs.run_overview(
        services(request),
        request.path_params["run_id"],
        runs_per_page=JUDGING_RUNS_PER_PAGE,
        cursor=cursor(request),
    )
    evaluation = overview.evaluation
    return render(
        request,
        session,
        "run.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            "judging_runs": overview.judging_runs,
            "panel_runs": overview.panel_runs,
            "judges": overview.judges,
            "blocked": session.needs("write", "starting AI judging")
            or start_blocked_reason(evaluation),
            "blank_run": BLANK_RUN,
            "distribution": grade_distribution_svg(
                overview.grade_counts, evaluation.scale, title="Current AI judgments per grade"
            )
            if overview.grade_counts
            else None,
        },
    )


@page
async def judging_run_page(request: Request, session: Session) -> Response:
    overview = await judging_runs.judging_run_overview(
        services(request),
        request.path_params["judging_run_id"],
        failures_per_page=FAILURES_PER_PAGE,
        cursor=cursor(request),
        audits=LATEST_AUDITS,
    )
    run, evaluation = overview.run, overview.evaluation
    return render(
        request,
        session,
        "judging_run.html",
        {
            "nav": "runs",
            "run": run,
            "evaluation": evaluation,
            "blocked": session.needs("write", "starting AI judging")
            or start_blocked_reason(evaluation),
            "failures": overview.failures,
            "human_judges": overview.human_judges,
            "audits": [audit_view(a, evaluation.scale) for a in overview.audits],
            "audit_blocked": session.needs("write", "starting an audit"),
            "distribution": grade_distribution_svg(
                overview.grade_counts,
                evaluation.scale,
                title=f"Judgments of {run.ai_judge_name} per grade",
            )
            if overview.grade_counts
            else None,
        },
    )
