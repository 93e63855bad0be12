"""The route table: every route once, with the scope it needs and the models the OpenAPI
document is built from.

Scopes (docs/security.md, "Scopes and tokens"): a GET needs ``read``, any other method
``write``, unless the route says otherwise. The exceptions are explicit below: the cost
estimate is a POST that computes without calling a provider or writing anything
(``read``); the token API is ``admin``. ``app.py`` wraps every handler in the check, so
no handler can forget it, and the check comes before the body is read.
"""

from __future__ import annotations

from releval_judge.access import ApiToken, CreatedToken, TokenCreate
from releval_judge.api import (
    ai_judges,
    audits,
    evaluation_runs,
    events,
    exports,
    health,
    judging_runs,
    judgments,
    metrics,
    panels,
    review,
    tokens,
)
from releval_judge.api.spec import API, Handler, RouteSpec, endpoint
from releval_judge.metrics.models import (
    CompareParams,
    EstimatesParams,
    MetricEstimates,
    MetricsParams,
    RetrievalMetrics,
    SystemComparison,
)
from releval_judge.models import (
    AgreementReport,
    AiJudge,
    AiJudgeCreate,
    AiJudgePatch,
    CandidateFailure,
    CandidateLine,
    Estimate,
    EstimateRequest,
    EvaluationRun,
    EvaluationRunCreate,
    EvaluationRunPatch,
    HumanGradeChange,
    HumanJudgmentPut,
    ImportResult,
    JudgeTestRequest,
    JudgeTestResult,
    JudgingRun,
    JudgingRunCreate,
    Judgment,
    JudgmentSample,
    Page,
    RunJudgment,
)
from releval_judge.models.audits import Audit, AuditCreate
from releval_judge.panels.models import (
    JudgePanel,
    JudgePanelCreate,
    PanelJudgment,
    PanelJudgmentParams,
    PanelRun,
    PanelRunCreate,
    ReviewQueue,
    ReviewQueueParams,
)
from releval_judge.params import (
    AgreementParams,
    ExportParams,
    HistoryParams,
    JudgmentParams,
    PageParams,
    RunExportParams,
    SampleParams,
)
from releval_judge.review.exports import MEDIA_TYPES

__all__ = ["API", "ROUTES", "Handler", "RouteSpec", "endpoint"]

EXPORT_MEDIA_TYPES = tuple(MEDIA_TYPES.values())

ROUTES: list[RouteSpec] = [
    RouteSpec("GET", "/healthz", health.healthz, "The process is up", auth=False),
    RouteSpec("GET", "/readyz", health.readyz, "The database is reachable", auth=False),
    RouteSpec("GET", "/metrics", health.metrics, "Prometheus metrics", auth=False),
    RouteSpec(
        "POST",
        f"{API}/evaluations/runs",
        evaluation_runs.create_evaluation_run,
        "Create an evaluation run with inline queries and candidates",
        201,
        EvaluationRunCreate,
        EvaluationRun,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs",
        evaluation_runs.list_evaluation_runs,
        "List evaluation runs, newest first",
        response=Page[EvaluationRun],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}",
        evaluation_runs.get_evaluation_run,
        "Get an evaluation run",
        response=EvaluationRun,
    ),
    RouteSpec(
        "PATCH",
        f"{API}/evaluations/runs/{{run_id}}",
        evaluation_runs.patch_evaluation_run,
        "Change an evaluation run's status or lock",
        body=EvaluationRunPatch,
        response=EvaluationRun,
    ),
    RouteSpec(
        "POST",
        f"{API}/evaluations/runs/{{run_id}}/candidates",
        evaluation_runs.import_candidates,
        "Bulk-import candidates as NDJSON (streamed through COPY)",
        201,
        response=ImportResult,
        ndjson_body=CandidateLine,
    ),
    RouteSpec(
        "POST",
        f"{API}/evaluations/runs/{{run_id}}/ai-judge",
        judging_runs.start_judging_run,
        "Start an AI judging run on an evaluation run",
        201,
        JudgingRunCreate,
        JudgingRun,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/ai-judging-runs",
        judging_runs.list_judging_runs,
        "List the AI judging runs of an evaluation run",
        response=Page[JudgingRun],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/judgments",
        judgments.list_run_judgments,
        "List judgments (AI and human), filtered and sorted",
        response=Page[Judgment],
        query=JudgmentParams,
    ),
    RouteSpec(
        "POST",
        f"{API}/ai-judges",
        ai_judges.create_judge,
        "Create an AI judge",
        201,
        AiJudgeCreate,
        AiJudge,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judges",
        ai_judges.list_judges,
        "List AI judges",
        response=Page[AiJudge],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judges/{{judge_id}}",
        ai_judges.get_judge,
        "Get an AI judge",
        response=AiJudge,
    ),
    RouteSpec(
        "PATCH",
        f"{API}/ai-judges/{{judge_id}}",
        ai_judges.patch_judge,
        "Change an AI judge",
        body=AiJudgePatch,
        response=AiJudge,
    ),
    RouteSpec(
        "DELETE",
        f"{API}/ai-judges/{{judge_id}}",
        ai_judges.delete_judge,
        "Delete an AI judge (409 while a judging run of it is queued or running)",
        204,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}",
        judging_runs.get_judging_run,
        "Get an AI judging run",
        response=JudgingRun,
    ),
    RouteSpec(
        "POST",
        f"{API}/ai-judging-runs/{{judging_run_id}}/cancel",
        judging_runs.cancel_judging_run,
        "Cancel a queued or running AI judging run",
        response=JudgingRun,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}/failures",
        judging_runs.list_failures,
        "List an AI judging run's per-candidate failures",
        response=Page[CandidateFailure],
        query=PageParams,
    ),
    # --- review, export and calibration (docs/reviewing.md) ---------------------------
    RouteSpec(
        "POST",
        f"{API}/ai-judges/{{judge_id}}/test",
        review.judge_test,
        "Grade inline candidates or a sample of an evaluation run with a judge; writes nothing "
        "(502 provider_error when the provider refuses the judge)",
        body=JudgeTestRequest,
        response=JudgeTestResult,
        errors=(502,),
        # Writes nothing, but calls the provider with the judge's key: it spends money.
        scope="write",
    ),
    RouteSpec(
        "PUT",
        f"{API}/evaluations/runs/{{run_id}}/candidates/{{candidate_id}}/judgments/{{judge}}",
        review.put_human_judgment,
        "Record or replace a human judge's grade of a candidate (409 when the run is locked)",
        body=HumanJudgmentPut,
        response=Judgment,
    ),
    RouteSpec(
        "DELETE",
        f"{API}/evaluations/runs/{{run_id}}/candidates/{{candidate_id}}/judgments/{{judge}}",
        review.delete_human_judgment,
        "Remove a human judge's grade of a candidate (409 when the run is locked)",
        204,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/candidates/{{candidate_id}}/history",
        review.human_grade_history,
        "Every write and delete of a candidate's human grades (who, when), newest first",
        response=Page[HumanGradeChange],
        query=HistoryParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/judgments/export",
        exports.export_evaluation_judgments,
        "Stream the current judgments as csv, jsonl or TREC qrels",
        query=ExportParams,
        media_types=EXPORT_MEDIA_TYPES,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/judgments/sample",
        review.sample_judgments,
        "Draw current judgments at random for a spot check (repeatable with seed)",
        response=JudgmentSample,
        query=SampleParams,
    ),
    RouteSpec(
        "POST",
        f"{API}/evaluations/runs/{{run_id}}/ai-judge/estimate",
        review.estimate_judging_run,
        "Estimate a judging run's batches, tokens and cost without calling the provider",
        body=EstimateRequest,
        response=Estimate,
        # A POST only for its body: it calls no provider and writes nothing.
        scope="read",
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}/judgments",
        review.list_judging_run_judgments,
        "List every judgment an AI judging run produced, current or overwritten since",
        response=Page[RunJudgment],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}/judgments/export",
        exports.export_judging_run_judgments,
        "Stream every judgment an AI judging run produced as csv, jsonl or TREC qrels",
        query=RunExportParams,
        media_types=EXPORT_MEDIA_TYPES,
    ),
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}/agreement",
        review.judging_run_agreement,
        "Agreement of an AI judging run with a human judge (kappa, alpha, confusion matrix)",
        response=AgreementReport,
        query=AgreementParams,
    ),
    # --- retrieval metrics, comparisons, estimates (docs/metrics.md) -------------------
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/metrics",
        metrics.run_metrics,
        "Retrieval metrics (nDCG@K, P@K, AP, RR, judged@K) per query and as means",
        response=RetrievalMetrics,
        query=MetricsParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/compare",
        metrics.compare_runs,
        "Compare evaluation runs over their shared queries: means, paired differences "
        "against the first run with a randomisation test, Kendall's tau of AI vs human",
        response=SystemComparison,
        query=CompareParams,
        errors=(404,),
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/estimates",
        metrics.run_estimates,
        "Prediction-powered estimates of each measure (AI grades corrected by a human "
        "sample) beside the AI-only and human-only ones, with 95% intervals",
        response=MetricEstimates,
        query=EstimatesParams,
    ),
    # --- judge panels and the review queue (docs/panels.md) ----------------------------
    RouteSpec(
        "POST",
        f"{API}/judge-panels",
        panels.create_panel,
        "Create a judge panel: 2 to 9 AI judges and an aggregation (majority, mean, median)",
        201,
        JudgePanelCreate,
        JudgePanel,
        errors=(404,),
    ),
    RouteSpec(
        "GET",
        f"{API}/judge-panels",
        panels.list_panels,
        "List judge panels, newest first",
        response=Page[JudgePanel],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/judge-panels/{{panel_id}}",
        panels.get_panel,
        "Get a judge panel",
        response=JudgePanel,
    ),
    RouteSpec(
        "DELETE",
        f"{API}/judge-panels/{{panel_id}}",
        panels.delete_panel,
        "Delete a judge panel (409 panel_in_use while one of its panel runs is running)",
        204,
        errors=(409,),
    ),
    RouteSpec(
        "POST",
        f"{API}/evaluations/runs/{{run_id}}/judge-panel",
        panels.start_panel_run,
        "Run a judge panel on an evaluation run: one AI judging run per member, then the "
        "aggregate as the current AI judgments",
        201,
        PanelRunCreate,
        PanelRun,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/panel-runs",
        panels.list_panel_runs,
        "List the panel runs of an evaluation run, newest first",
        response=Page[PanelRun],
        query=PageParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/panel-runs/{{panel_run_id}}",
        panels.get_panel_run,
        "Get a panel run: its members, status and (once completed) agreement",
        response=PanelRun,
    ),
    RouteSpec(
        "POST",
        f"{API}/panel-runs/{{panel_run_id}}/cancel",
        panels.cancel_panel_run,
        "Cancel a running panel run and its members (409 panel_run_ended once ended)",
        response=PanelRun,
        errors=(409,),
    ),
    RouteSpec(
        "GET",
        f"{API}/panel-runs/{{panel_run_id}}/judgments",
        panels.list_panel_judgments,
        "List a panel run's aggregate judgments with each member's grade and a disagreement flag",
        response=Page[PanelJudgment],
        query=PanelJudgmentParams,
    ),
    RouteSpec(
        "GET",
        f"{API}/evaluations/runs/{{run_id}}/review-queue",
        panels.review_queue,
        "Candidates without a human grade, ordered by how much a human grade would teach",
        response=ReviewQueue,
        query=ReviewQueueParams,
    ),
    # --- audits: how far to trust a judge (docs/reviewing.md, "Auditing a judge") --------
    RouteSpec(
        "POST",
        f"{API}/ai-judging-runs/{{judging_run_id}}/audits",
        audits.create_audit,
        "Audit an AI judging run: re-judge a seeded sample twice (same order, each batch "
        "reversed) and report test-retest agreement, the position effect and a verdict",
        201,
        AuditCreate,
        Audit,
        errors=(409,),
        scope="write",
    ),
    RouteSpec(
        "GET",
        f"{API}/audits/{{audit_id}}",
        audits.get_audit,
        "Get an audit: its status, usage and (once completed) figures and verdict",
        response=Audit,
    ),
    RouteSpec(
        "POST",
        f"{API}/audits/{{audit_id}}/cancel",
        audits.cancel_audit,
        "Cancel a queued or running audit (409 audit_ended once ended)",
        response=Audit,
        errors=(409,),
    ),
    # --- live progress for the web UI (docs/ui.md) --------------------------------------
    RouteSpec(
        "GET",
        f"{API}/ai-judging-runs/{{judging_run_id}}/events",
        events.judging_run_events,
        "Stream an AI judging run's progress as Server-Sent Events until it ends "
        "(event 'progress' on each change, 'end' with the terminal status)",
        response=JudgingRun,
        media_types=(events.EVENT_STREAM,),
    ),
    # --- API tokens (docs/security.md, "Scopes and tokens"): admin only ----------------
    RouteSpec(
        "POST",
        f"{API}/tokens",
        tokens.create_token,
        "Create an API token with scopes and an optional expiry; the token is in this answer "
        "only (only its SHA-256 is stored)",
        201,
        TokenCreate,
        CreatedToken,
        scope="admin",
    ),
    RouteSpec(
        "GET",
        f"{API}/tokens",
        tokens.list_tokens,
        "List API tokens, newest first, revoked and expired ones included (never a token "
        "or its hash)",
        response=Page[ApiToken],
        query=PageParams,
        scope="admin",
    ),
    RouteSpec(
        "DELETE",
        f"{API}/tokens/{{token_id}}",
        tokens.revoke_token,
        "Revoke an API token: refused on this replica at once and on every replica within "
        "5 s (again: 204, no change)",
        204,
        scope="admin",
    ),
]
