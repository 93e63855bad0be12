"""The comparison page: evaluation runs (one per ranker) side by side over their shared
queries, chosen on the runs list (docs/ui.md).

The runs list's checkboxes send ``?run=A&run=B…``; that is turned into the canonical
``?runs=BASELINE,OTHER,…`` (the API's parameter, read with the API's model) by a redirect,
the oldest checked run first as the baseline (the list is newest first). The page names
runs, never by id alone; runs without a shared query are said to be so instead of a table
of zeros.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from releval_judge.metrics.models import CompareParams
from releval_judge.services import metrics
from releval_judge.ui.pages import Session, gateway_root, page, render
from releval_judge.web.auth import services
from releval_judge.web.body import read_query


def _query(runs: list[str], keep: dict[str, str]) -> str:
    return urlencode({"runs": ",".join(runs), **keep})


@page
async def compare_page(request: Request, session: Session) -> Response:
    params = request.query_params
    keep = {k: v for k, v in params.items() if k not in ("run", "runs")}
    chosen = params.getlist("run")
    if chosen:
        # The list is newest first; the oldest checked run is the natural baseline.
        target = f"{gateway_root(request)}/ui/compare?{_query(chosen[::-1], keep)}"
        return RedirectResponse(target, status_code=303)
    if not params.get("runs") or len(params["runs"].split(",")) < 2:
        return render(
            request,
            session,
            "compare.html",
            {"nav": "runs", "result": None, "chosen": len(chosen)},
        )
    result = await metrics.compare_runs(services(request), read_query(request, CompareParams))
    ids = [r.evaluation_run_id for r in result.runs]
    return render(
        request,
        session,
        "compare.html",
        {
            "nav": "runs",
            "result": result,
            "names": {r.evaluation_run_id: r.name for r in result.runs},
            # Each run's link that makes it the baseline (the others keep their order).
            "as_baseline": {i: _query([i, *(o for o in ids if o != i)], keep) for i in ids[1:]},
        },
    )
