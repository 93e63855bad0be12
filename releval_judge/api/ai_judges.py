"""AI judges: create, list, get, patch, delete (``services.judges``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models import AiJudgeCreate, AiJudgePatch
from releval_judge.params import PageParams
from releval_judge.services import judges
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


async def create_judge(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, AiJudgeCreate, svc.settings.max_body_bytes)
    judge = await judges.create_judge(svc, body, by=actor(request))
    return model_response(judge, 201)


async def list_judges(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await judges.list_judges(services(request), limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def get_judge(request: Request) -> Response:
    judge = await judges.get_judge(services(request), request.path_params["judge_id"])
    return model_response(judge)


async def patch_judge(request: Request) -> Response:
    """Fields present in the body replace the stored ones (``null`` clears nullable ones).

    Judging runs already created keep the configuration they started with.
    """
    svc = services(request)
    patch = await read_model(request, AiJudgePatch, svc.settings.max_body_bytes)
    judge = await judges.patch_judge(svc, request.path_params["judge_id"], patch, by=actor(request))
    return model_response(judge)


async def delete_judge(request: Request) -> Response:
    await judges.delete_judge(services(request), request.path_params["judge_id"])
    return Response(status_code=204)
