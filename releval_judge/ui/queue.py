"""The review queue page: candidates without a human grade, those a grade teaches most
first, each with its document as the AI judge saw it and the judge's reasoning, graded
with one click or one keystroke (the page's script sends grades to the API).
See docs/ui.md and docs/panels.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.panels.models import ReviewQueueParams
from releval_judge.services import panels
from releval_judge.ui.pages import Session, page, render
from releval_judge.web.auth import services
from releval_judge.web.body import read_query

# Grades are buttons up to this many grades on the scale; a wider scale gets a select.
MAX_GRADE_BUTTONS = 11


@page
async def queue_page(request: Request, session: Session) -> Response:
    svc = services(request)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    params = read_query(request, ReviewQueueParams)
    rows = await panels.review_queue_rows(svc, evaluation.id, params)
    grades = list(range(evaluation.scale.min, evaluation.scale.max + 1))
    return render(
        request,
        session,
        "queue.html",
        {
            "nav": "runs",
            "evaluation": evaluation,
            "queue": rows.queue,
            "documents": rows.documents,
            "grades": grades,
            "grade_buttons": len(grades) <= MAX_GRADE_BUTTONS,
        },
    )
