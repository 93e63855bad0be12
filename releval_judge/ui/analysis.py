"""The UI's pages from judgments to decisions: metrics of a run and a panel run's results
(docs/ui.md, docs/panels.md; the comparison and the review queue have modules of their own).

The metrics page read the page's query parameters with the API's
models and call the API's use cases (``releval_judge.services``), so the figures on the
page are the API's answer; a bad parameter is the API's error message on the error page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import ValidationFailed, summarise, validation_details
from releval_judge.metrics.models import MetricsParams
from releval_judge.services import metrics, panels
from releval_judge.ui.charts import per_query_bars_svg
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services

PANEL_JUDGMENTS_PER_PAGE = 50
# Cursors of the pages before the shown one, carried in the links (a keyset listing can
# only go forward): bounded, so a link stays a sane length.
MAX_BACK_PAGES = 100


# The measures offered as checkboxes on the metrics page (any other is typed).
COMMON_MEASURES = ["ndcg@5", "ndcg@10", "p@5", "p@10", "ap", "rr", "judged@10"]


@page
async def metrics_page(request: Request, session: Session) -> Response:
    """The run's metrics for the measures and grades the form chose; a measure the API
    refuses is said above the form (422), with the form as it was filled in."""
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    chosen = request.query_params.getlist("measure")
    typed = request.query_params.get("measures", "").strip()
    raw = {k: v for k, v in request.query_params.items() if k not in ("measure", "measures")}
    wanted = ",".join(dict.fromkeys([*chosen, *(m.strip() for m in typed.split(",") if m)]))
    context: dict[str, Any] = {"nav": "runs", "evaluation": evaluation, "problem": None}
    try:
        params = _metrics_params(raw, wanted)
        result = await metrics.run_metrics(svc, evaluation.id, params)
    except ValidationFailed as exc:
        context |= {"problem": exc.message, "result": None, "source": raw.get("source", "")}
        context |= _measure_choice(wanted.split(",") if wanted else [])
        return render(request, session, "metrics.html", context, status_code=422)
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
    context |= {
        "result": result,
        "names": names,
        "charts": list(zip(names, charts, strict=True)),
        "source": params.source,
    }
    context |= _measure_choice(names)
    return render(request, session, "metrics.html", context)


def _metrics_params(raw: dict[str, str], measures: str) -> MetricsParams:
    """The API's parameters of the metrics route, with the checked and typed measures
    joined (the API's default when none); its errors as the API's (422)."""
    try:
        return MetricsParams.model_validate({**raw, "measures": measures} if measures else raw)
    except ValidationError as exc:
        details = validation_details(exc, prefix="query")
        raise ValidationFailed(summarise(details), details=details) from exc


def _measure_choice(names: list[str]) -> dict[str, Any]:
    """The form's checkboxes (checked when shown) and the other measures, typed."""
    lowered = [n.lower() for n in names]
    return {
        "common_measures": [(m, m in lowered) for m in COMMON_MEASURES],
        "other_measures": ",".join(n for n in names if n.lower() not in COMMON_MEASURES),
    }


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
