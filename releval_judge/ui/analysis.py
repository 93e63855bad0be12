"""The UI's pages from judgments to decisions: metrics of a run, a comparison of runs, a
panel run's results, and the review queue (docs/ui.md, docs/panels.md).

The metrics, comparison and queue pages call the API's own handlers with the page's
request (same path parameters, same query parameters), so the figures on the page are the
API's answer, validated by the same models; a bad parameter is the API's error message on
the error page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.api import metrics as metrics_api
from releval_judge.api import panels as panels_api
from releval_judge.metrics.models import RetrievalMetrics, SystemComparison
from releval_judge.panels.models import ReviewQueue
from releval_judge.store.panels import PanelStore
from releval_judge.ui.charts import per_query_bars_svg
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services

PANEL_JUDGMENTS_PER_PAGE = 200


def _body(response: Response) -> bytes:
    return bytes(response.body)


@page
async def metrics_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    result = RetrievalMetrics.model_validate_json(_body(await metrics_api.run_metrics(request)))
    names = list(result.measures)
    charts = [
        per_query_bars_svg(
            [
                (q.query_id, q.model_extra.get(name) if q.model_extra else None)
                for q in result.queries
            ],
            title=f"{name} per query",
            ident=f"bars-{index}",
        )
        for index, name in enumerate(names)
    ]
    return render(
        request,
        session,
        "metrics.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            "result": result,
            "names": names,
            "charts": list(zip(names, charts, strict=True)),
            "source": request.query_params.get("source", "human_else_ai"),
        },
    )


@page
async def compare_page(request: Request, session: Session) -> Response:
    result = SystemComparison.model_validate_json(_body(await metrics_api.compare_runs(request)))
    return render(request, session, "compare.html", {"nav": "runs", "result": result})


@page
async def panel_run_page(request: Request, session: Session) -> Response:
    svc = services(request)
    store = PanelStore(svc.store.pool)
    run = await store.get_panel_run(request.path_params["panel_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    only = request.query_params.get("disagreement") == "true"
    judgments = await store.list_panel_judgments(
        run.id,
        disagreement=True if only else None,
        limit=PANEL_JUDGMENTS_PER_PAGE,
        cursor=request.query_params.get("cursor") or None,
    )
    return render(
        request,
        session,
        "panel_run.html",
        {
            "nav": "runs",
            "run": run,
            "evaluation": evaluation,
            "judgments": judgments,
            "only_disagreements": only,
        },
    )


@page
async def queue_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    queue = ReviewQueue.model_validate_json(_body(await panels_api.review_queue(request)))
    return render(
        request,
        session,
        "queue.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            "queue": queue,
            "grades": list(range(evaluation.scale.min, evaluation.scale.max + 1)),
        },
    )
