"""The review page: a run's judgments, filtered and sorted like the API's listing, each
with the candidate's other current judgments beside it; human grades are given from here
(the page's script sends them to the API)."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import DomainError
from releval_judge.models import Judgment
from releval_judge.params import JudgmentParams
from releval_judge.services import evaluation_runs, judgments
from releval_judge.services.judgments import ReviewRows
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services

JUDGMENTS_PER_PAGE = 50

# The review page's sort choices (values are the API's ``sort`` parameter).
SORTS = [
    ("query_id,rank", "Query, rank"),
    ("-grade,rank", "Grade high → low"),
    ("grade,rank", "Grade low → high"),
    ("rank,query_id", "Rank"),
    ("-created_at", "Newest"),
]


def _filters(request: Request) -> tuple[dict[str, str], JudgmentParams | None, str | None]:
    """The filter form's values (empty fields dropped) and the parsed parameters, or the
    reason they do not parse."""
    raw = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    try:
        return raw, JudgmentParams.model_validate({**raw, "limit": JUDGMENTS_PER_PAGE}), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "filter"
        return raw, None, f"{where}: {first['msg']}"


@page
async def review_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await evaluation_runs.get_evaluation_run(svc, request.path_params["run_id"])
    raw, params, problem = _filters(request)
    rows: ReviewRows | None = None
    if params is not None:
        try:
            rows = await judgments.review_rows(svc, evaluation.id, params)
        except DomainError as exc:
            # A filter the listing refuses (a bad sort or cursor, an unknown judging run)
            # is said above an empty table rather than on an error page.
            if exc.status_code == 404 and params.ai_judging_run_id is None:
                raise
            problem = exc.message
    items: list[Judgment] = rows.page.items if rows else []
    next_cursor = rows.page.next_cursor if rows else None
    keep = {k: v for k, v in raw.items() if k != "cursor"}
    return render(
        request,
        session,
        "review.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            # Fields left empty read as "" in the form.
            "filters": defaultdict(str, keep),
            "problem": problem,
            "items": items,
            "beside": rows.beside if rows else {},
            "grades": list(range(evaluation.scale.min, evaluation.scale.max + 1)),
            "sorts": SORTS,
            "without_run": urlencode({k: v for k, v in keep.items() if k != "ai_judging_run_id"}),
            "next_query": urlencode({**keep, "cursor": next_cursor}) if next_cursor else None,
            "presets": {
                "relevant": urlencode({"source": "ai", "sort": "-grade,rank"}),
                "top_irrelevant": urlencode(
                    {
                        "source": "ai",
                        "max_grade": evaluation.scale.min,
                        "max_rank": 3,
                        "sort": "rank",
                    }
                ),
            },
        },
    )
