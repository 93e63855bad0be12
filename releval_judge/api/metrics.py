"""Retrieval metrics of an evaluation run, comparisons of runs, prediction-powered
estimates (docs/metrics.md). The use cases are in ``releval_judge.services.metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.metrics.models import CompareParams, EstimatesParams, MetricsParams
from releval_judge.services import metrics
from releval_judge.web.auth import services
from releval_judge.web.body import read_query
from releval_judge.web.responses import model_response


async def run_metrics(request: Request) -> Response:
    """nDCG@K, P@K, AP, RR, judged@K per query and as means over the run's queries."""
    params = read_query(request, MetricsParams)
    result = await metrics.run_metrics(services(request), request.path_params["run_id"], params)
    return model_response(result)


async def compare_runs(request: Request) -> Response:
    """Several evaluation runs (one per ranker) over the same queries, side by side."""
    params = read_query(request, CompareParams)
    return model_response(await metrics.compare_runs(services(request), params))


async def run_estimates(request: Request) -> Response:
    """Each measure estimated from AI grades on every query corrected by the human grades
    of a sample of queries, beside the AI-only and human-only estimates."""
    params = read_query(request, EstimatesParams)
    result = await metrics.run_estimates(services(request), request.path_params["run_id"], params)
    return model_response(result)
