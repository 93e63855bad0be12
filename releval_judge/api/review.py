"""Reviewing runs: test a judge, human judgments, a run's full set of judgments, random
spot checks, agreement with a human judge, and the cost estimate of a judging run. The use
cases are in ``releval_judge.services.review``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.models import EstimateRequest, HumanJudgmentPut, JudgeTestRequest
from releval_judge.params import AgreementParams, HistoryParams, PageParams, SampleParams
from releval_judge.services import judgments, review
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response

# --- judge test ------------------------------------------------------------------------


async def judge_test(request: Request) -> Response:
    """Grade a few candidates with the judge and return everything; writes nothing."""
    svc = services(request)
    body = await read_model(request, JudgeTestRequest, svc.settings.max_body_bytes)
    return model_response(await review.judge_test(svc, request.path_params["judge_id"], body))


# --- human judgments -------------------------------------------------------------------


async def put_human_judgment(request: Request) -> Response:
    """Create or replace one human judge's grade of one candidate (200 with the judgment)."""
    svc = services(request)
    body = await read_model(request, HumanJudgmentPut, svc.settings.max_body_bytes)
    params = request.path_params
    judgment = await judgments.put_human_judgment(
        svc, params["run_id"], params["candidate_id"], params["judge"], body, by=actor(request)
    )
    return model_response(judgment)


async def delete_human_judgment(request: Request) -> Response:
    params = request.path_params
    await judgments.delete_human_judgment(
        services(request),
        params["run_id"],
        params["candidate_id"],
        params["judge"],
        by=actor(request),
    )
    return Response(status_code=204)


async def human_grade_history(request: Request) -> Response:
    """Every write and delete of a candidate's human grades, with who and when, newest
    first (append-only: docs/security.md, "Who did it")."""
    params = read_query(request, HistoryParams)
    page = await review.human_grade_history(
        services(request),
        request.path_params["run_id"],
        request.path_params["candidate_id"],
        params,
    )
    return model_response(page)


# --- a judging run's full set, spot checks, agreement -----------------------------------


async def list_judging_run_judgments(request: Request) -> Response:
    """Every judgment the run produced, current or overwritten by a later run since."""
    params = read_query(request, PageParams)
    page = await review.run_judgments(
        services(request),
        request.path_params["judging_run_id"],
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)


async def sample_judgments(request: Request) -> Response:
    """``n`` current judgments drawn at random; the answer's ``seed`` draws them again."""
    params = read_query(request, SampleParams)
    sample = await review.sample_judgments(services(request), request.path_params["run_id"], params)
    return model_response(sample)


async def judging_run_agreement(request: Request) -> Response:
    """Agreement of one judging run's judgments with one human judge's."""
    params = read_query(request, AgreementParams)
    report = await review.run_agreement(
        services(request), request.path_params["judging_run_id"], params
    )
    return model_response(report)


# --- estimate --------------------------------------------------------------------------


async def estimate_judging_run(request: Request) -> Response:
    """What a judging run of this judge and scope would send, and cost; no provider call."""
    svc = services(request)
    body = await read_model(request, EstimateRequest, svc.settings.max_body_bytes)
    return model_response(await review.estimate(svc, request.path_params["run_id"], body))
