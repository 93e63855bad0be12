"""The judgments of an evaluation run: AI and human, filtered, sorted, paginated
(``services.judgments``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.params import JudgmentParams
from releval_judge.services import judgments
from releval_judge.web.auth import services
from releval_judge.web.body import read_query
from releval_judge.web.responses import model_response


async def list_run_judgments(request: Request) -> Response:
    params = read_query(request, JudgmentParams)
    page = await judgments.list_run_judgments(
        services(request), request.path_params["run_id"], params
    )
    return model_response(page)
