"""Reviewing runs: test a judge, human judgments, a run's full set of judgments, random
spot checks, agreement with a human judge, and the cost estimate of a judging run."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.engine.errors import RunFailed
from releval_judge.engine.estimate import estimate_run
from releval_judge.engine.judging import provider_config
from releval_judge.engine.trial import TrialCandidate, run_trial, trial_cost
from releval_judge.errors import ProviderFailed, ValidationFailed
from releval_judge.models import (
    AgreementFigures,
    AgreementReport,
    ConfusionMatrix,
    EstimateRequest,
    HumanJudgmentPut,
    JudgeConfig,
    JudgeTestRequest,
    JudgeTestResult,
    JudgmentSample,
)
from releval_judge.params import AgreementParams, HistoryParams, PageParams, SampleParams
from releval_judge.providers import Provider
from releval_judge.review.agreement import Agreement, agreement, contingency, default_relevant_from
from releval_judge.scale import Scale
from releval_judge.services import Services, judgments
from releval_judge.store.review import ReviewStore
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response

DEFAULT_SAMPLE_SIZE = 10
INLINE_SCALE = Scale(min=0, max=3)


def _review(svc: Services) -> ReviewStore:
    return ReviewStore(svc.store)


def figures(result: Agreement, scale: Scale) -> AgreementFigures:
    """The agreement statistics as the API shows them."""
    return AgreementFigures(
        pairs=result.pairs,
        exact_agreement=result.exact,
        within_one_agreement=result.within_one,
        cohen_kappa=result.cohen_kappa,
        cohen_kappa_quadratic=result.cohen_kappa_quadratic,
        krippendorff_alpha_ordinal=result.krippendorff_alpha_ordinal,
        relevant_from=result.relevant_from,
        binary_kappa=result.binary_kappa,
        binary_agreement=result.binary_agreement,
        mean_signed_difference=result.mean_signed_difference,
        confusion_matrix=ConfusionMatrix(
            grades=result.grades,
            labels=[scale.label(g) for g in result.grades],
            counts=result.confusion,
        ),
    )


def _relevant_from(scale: Scale, given: int | None) -> int:
    if given is None:
        return default_relevant_from(scale.min, scale.max)
    if not scale.min < given <= scale.max:
        raise ValidationFailed(
            f"relevant_from {given} must be above the scale's lowest grade and at most its "
            f"highest ({scale.min + 1}–{scale.max})",
            details=[{"loc": ["query", "relevant_from"], "input": given}],
        )
    return given


# --- judge test ------------------------------------------------------------------------


async def judge_test(request: Request) -> Response:
    """Grade a few candidates with the judge and return everything; writes nothing."""
    svc = services(request)
    body = await read_model(request, JudgeTestRequest, svc.settings.max_body_bytes)
    judge_id = request.path_params["judge_id"]
    config = await svc.store.get_judge_config(judge_id)
    review = _review(svc)
    seed: int | None = None
    human_judge: str | None = None
    evaluation_run_id: str | None = None
    if body.evaluation_run_id is not None:
        evaluation = await svc.store.get_evaluation_run(body.evaluation_run_id)
        evaluation_run_id, scale = evaluation.id, evaluation.scale
        judges = {j.judge: j.judgments for j in await review.human_judges(evaluation.id)}
        if body.human_judge is not None:
            if body.human_judge not in judges:
                raise ValidationFailed(
                    f"human judge {body.human_judge!r} has no judgments on evaluation run "
                    f"{evaluation.id}"
                    + (f" (human judges: {', '.join(sorted(judges))})" if judges else ""),
                    details=[{"loc": ["body", "human_judge"], "input": body.human_judge}],
                )
            human_judge = body.human_judge
        elif judges:
            human_judge = next(iter(judges))  # the one with the most judgments
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        sampled = await review.sample_candidates(
            evaluation.id,
            n=body.sample_size or DEFAULT_SAMPLE_SIZE,
            seed=seed,
            human_judge=human_judge,
        )
        candidates = [
            TrialCandidate(
                query=c.query,
                rank=c.rank,
                title=c.title,
                text=c.text,
                doc_id=c.doc_id,
                fields=c.fields,
                candidate_id=str(c.id),
                query_id=c.query_id,
                human_grade=c.human_grade,
                given_doc_id=c.doc_id,
            )
            for c in sampled
        ]
    else:
        assert body.query is not None and body.candidates is not None
        scale = body.scale or INLINE_SCALE
        candidates = [
            TrialCandidate(
                query=body.query,
                rank=c.rank if c.rank is not None else position,
                title=c.title,
                text=c.text,
                doc_id=c.doc_id or "",
                fields=c.fields,
                given_doc_id=c.doc_id,
            )
            for position, c in enumerate(body.candidates, start=1)
        ]
    outcome = await run_trial(
        config=config,
        provider=_provider(svc, config),
        candidates=candidates,
        scale=scale,
        process_calls=svc.runner.process_calls,
        templates=svc.templates,
    )
    pairs = [
        (r.human_grade, r.grade)
        for r in outcome.results
        if r.human_grade is not None and r.grade is not None
    ]
    agreement_figures = None
    if human_judge is not None:
        result = agreement(
            contingency(pairs),
            list(range(scale.min, scale.max + 1)),
            default_relevant_from(scale.min, scale.max),
        )
        agreement_figures = figures(result, scale)
    return model_response(
        JudgeTestResult(
            ai_judge_id=judge_id,
            ai_judge_name=config.name,
            model=config.model,
            evaluation_run_id=evaluation_run_id,
            scale=scale,
            seed=seed,
            human_judge=human_judge,
            judged=sum(r.grade is not None for r in outcome.results),
            failed=sum(r.grade is None for r in outcome.results),
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            cost=trial_cost(config, outcome),
            calls=outcome.calls,
            results=outcome.results,
            agreement=agreement_figures,
        )
    )


def _provider(svc: Services, config: JudgeConfig) -> Provider:
    """The judge's provider, built the way the runner builds it for a judging run."""
    try:
        settings = provider_config(
            config, svc.secrets, max_answer_bytes=svc.settings.max_answer_bytes
        )
    except RunFailed as exc:
        raise ProviderFailed(str(exc)) from exc
    return svc.runner.provider_factory(settings, svc.runner.session)


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
    page = await _review(services(request)).human_grade_history(
        request.path_params["run_id"],
        request.path_params["candidate_id"],
        judge=params.judge,
        limit=params.limit,
        cursor=params.cursor,
    )
    return model_response(page)


# --- a judging run's full set, spot checks, agreement -----------------------------------


async def list_judging_run_judgments(request: Request) -> Response:
    """Every judgment the run produced, current or overwritten by a later run since."""
    svc = services(request)
    params = read_query(request, PageParams)
    run = await svc.store.get_judging_run(request.path_params["judging_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    page = await _review(svc).run_judgments(
        run, evaluation.scale, limit=params.limit, cursor=params.cursor
    )
    return model_response(page)


async def sample_judgments(request: Request) -> Response:
    """``n`` current judgments drawn at random; the answer's ``seed`` draws them again."""
    svc = services(request)
    params = read_query(request, SampleParams)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
    items = await _review(svc).sample_judgments(
        evaluation, n=params.n, seed=seed, source=params.source
    )
    return model_response(JudgmentSample(seed=seed, items=items))


async def judging_run_agreement(request: Request) -> Response:
    """Agreement of one judging run's judgments with one human judge's."""
    svc = services(request)
    params = read_query(request, AgreementParams)
    run = await svc.store.get_judging_run(request.path_params["judging_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    scale = evaluation.scale
    relevant_from = _relevant_from(scale, params.relevant_from)
    review = _review(svc)
    judges = [j.judge for j in await review.human_judges(evaluation.id)]
    human_judge = params.human_judge
    if human_judge is not None and human_judge not in judges:
        raise ValidationFailed(
            f"human judge {human_judge!r} has no judgments on evaluation run {evaluation.id}"
            + (f" (human judges: {', '.join(sorted(judges))})" if judges else ""),
            details=[{"loc": ["query", "human_judge"], "input": human_judge}],
        )
    if human_judge is None:
        if len(judges) > 1:
            raise ValidationFailed(
                "this evaluation run has several human judges; choose one with "
                f"?human_judge= ({', '.join(sorted(judges))})",
                details=[{"loc": ["query", "human_judge"], "judges": sorted(judges)}],
            )
        human_judge = judges[0] if judges else None
    counts = await review.agreement_counts(run.id, human_judge) if human_judge else {}
    in_scale = {k: v for k, v in counts.items() if scale.contains(k[0]) and scale.contains(k[1])}
    result = agreement(in_scale, list(range(scale.min, scale.max + 1)), relevant_from)
    report = AgreementReport(
        **figures(result, scale).model_dump(),
        ai_judging_run_id=run.id,
        evaluation_run_id=evaluation.id,
        ai_judge_name=run.ai_judge_name,
        human_judge=human_judge,
        scale=scale,
    )
    return model_response(report)


# --- estimate --------------------------------------------------------------------------


async def estimate_judging_run(request: Request) -> Response:
    """What a judging run of this judge and scope would send, and cost; no provider call."""
    svc = services(request)
    body = await read_model(request, EstimateRequest, svc.settings.max_body_bytes)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    config = await svc.store.get_judge_config(body.ai_judge_id)
    estimate = await estimate_run(
        _review(svc), evaluation, body.ai_judge_id, config, body.scope, svc.templates
    )
    return model_response(estimate)
