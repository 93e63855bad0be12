"""The UI's pages from judgments to decisions: metrics of a run and a panel run's results
(docs/ui.md, docs/panels.md; the comparison and the review queue have modules of their own).

The metrics page read the page's query parameters with the API's
models and call the API's use cases (``releval_judge.services``), so the figures on the
page are the API's answer; a bad parameter is the API's error message on the error page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.metrics.models import MetricsParams
from releval_judge.services import metrics, panels
from releval_judge.ui.charts import per_query_bars_svg
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services
from releval_judge.web.body import read_query

PANEL_JUDGMENTS_PER_PAGE = 50
# Cursors of the pages before the shown one, carried in the links (a keyset listing can
# only go forward): bounded, so a link stays a sane length.
MAX_BACK_PAGES = 100


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
    """A panel run and one page of its aggregate judgments. ``?cursor=`` is the page's
    cursor; ``?back=`` (repeated) the cursors of the pages before it ("" for the first),
    so that Previous needs no backwards query."""
    svc = services(request)
    run = await panels.get_panel_run(svc, request.path_params["panel_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    only = request.query_params.get("disagreement") == "true"
    current = request.query_params.get("cursor") or None
    back = request.query_params.getlist("back")[-MAX_BACK_PAGES:]
    judgments = await panels.list_panel_judgments(
        svc,
        run.id,
        disagreement=True if only else None,
        limit=PANEL_JUDGMENTS_PER_PAGE,
        cursor=current,
    )
    keep = {"disagreement": "true"} if only else {}

    def link(cursor: str | None, trail: list[str]) -> str:
        pairs = [*keep.items(), *(("back", b) for b in trail)]
        if cursor:
            pairs.append(("cursor", cursor))
        return "?" + urlencode(pairs)

    first_row = len(back) * PANEL_JUDGMENTS_PER_PAGE + 1 if current else 1
    if not current:
        back = []
    total = None
    if run.agreement is not None:
        total = run.agreement.disagreements if only else run.agreement.candidates
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
            "rows_from": first_row,
            "rows_to": first_row + len(judgments.items) - 1,
            "rows_total": total,
            "next_link": link(judgments.next_cursor, [*back, current or ""])
            if judgments.next_cursor
            else None,
            "previous_link": link(back[-1] or None, back[:-1]) if current and back else None,
        },
    )
