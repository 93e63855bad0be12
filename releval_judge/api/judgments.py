"""The judgments of an evaluation run: AI and human, filtered, sorted, paginated."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.params import JudgmentParams
from releval_judge.store.judgments import JudgmentFilter, list_judgments
from releval_judge.web.auth import services
from releval_judge.web.body import read_query
from releval_judge.web.responses import model_response


async def list_run_judgments(request: Request) -> Response:
    params = read_query(request, JudgmentParams)
    page = await list_judgments(
        services(request).store.pool,
        request.path_params["run_id"],
        filters=JudgmentFilter(
            source=params.source,
            grade=params.grade,
            min_grade=params.min_grade,
            max_grade=params.max_grade,
            max_rank=params.max_rank,
            query_id=params.query_id,
            ai_judging_run_id=params.ai_judging_run_id,
        ),
        sort=params.sort,
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)
