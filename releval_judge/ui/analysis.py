"""The UI's pages from judgments to decisions: metrics of a run, a comparison of runs, a
panel run's results, and the review queue (docs/ui.md, docs/panels.md).

The metrics, comparison and queue pages read the page's query parameters with the API's
models and call the API's use cases (``releval_judge.services``), so the figures on the
page are the API's answer; a bad parameter is the API's error message on the error page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.metrics.models import MetricsParams
from releval_judge.panels.models import ReviewQueueParams
from releval_judge.services import metrics, panels
from releval_judge.ui.charts import per_query_bars_svg
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services
from releval_judge.web.body import read_query

PANEL_JUDGMENTS_PER_PAGE = 200


@page
async def metrics_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    params = read_query(request, MetricsParams)
    result = await metrics.run_metrics(svc, evaluation.id, params)
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
            "source": params.source,
        },
    )


@page
async def panel_run_page(request: Request, session: Session) -> Response:
    svc = services(request)
    run = await panels.get_panel_run(svc, request.path_params["panel_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    only = request.query_params.get("disagreement") == "true"
    judgments = await panels.list_panel_judgments(
        svc,
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
    params = read_query(request, ReviewQueueParams)
    queue = await panels.review_queue(svc, evaluation.id, params)
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
