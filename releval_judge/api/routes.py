"""The route table: every route once, with the models the OpenAPI document is built from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.api import ai_judges, evaluation_runs, health, judging_runs, judgments
from releval_judge.api.params import JudgmentParams, PageParams
from releval_judge.models import (
    AiJudge,
    AiJudgeCreate,
    AiJudgePatch,
    CandidateFailure,
    CandidateLine,
    EvaluationRun,
    EvaluationRunCreate,
    EvaluationRunPatch,
    ImportResult,
    JudgingRun,
    JudgingRunCreate,
    Judgment,
    Page,
)

Handler = Callable[[Request], Awaitable[Response]]
API = "/api/v1"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: bool = True
    ndjson_body: type[BaseModel] | None = None


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
]
