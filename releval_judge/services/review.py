"""Reviewing runs: test a judge, a judging run's full set of judgments, random spot checks,
agreement with a human judge, a candidate's human-grade history, and the cost estimate
of a judging run (docs/reviewing.md)."""

from __future__ import annotations

import secrets

from releval_judge.engine.errors import RunFailed
from releval_judge.engine.estimate import estimate_run
from releval_judge.engine.judging import provider_config
from releval_judge.engine.trial import TrialCandidate, run_trial, trial_candidate, trial_cost
from releval_judge.errors import ProviderFailed, ValidationFailed
from releval_judge.models import (
    AgreementFigures,
    AgreementReport,
    ConfusionMatrix,
    Estimate,
    EstimateRequest,
    HumanGradeChange,
    JudgeConfig,
    JudgeTestRequest,
    JudgeTestResult,
    JudgmentSample,
    Page,
    RunJudgment,
)
from releval_judge.params import AgreementParams, HistoryParams, SampleParams
from releval_judge.providers import Provider
from releval_judge.review.agreement import Agreement, agreement, contingency, default_relevant_from
from releval_judge.scale import Scale
from releval_judge.services import Services
from releval_judge.services.checks import (
    check_human_judge,
    checked_relevant_min_grade,
    human_judges,
)
from releval_judge.store.review import ReviewStore

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


# --- judge test ------------------------------------------------------------------------


async def judge_test(svc: Services, judge_id: str, body: JudgeTestRequest) -> JudgeTestResult:
    """Grade a few candidates with the judge and return everything; writes nothing.

    The candidates are a random sample of an evaluation run's (a human judge's, when the
    run has any: the figures then include the agreement) or given inline."""
    config = await svc.store.get_judge_config(judge_id)
    seed: int | None = None
    human_judge: str | None = None
    evaluation_run_id: str | None = None
    if body.evaluation_run_id is not None:
        evaluation = await svc.store.get_evaluation_run(body.evaluation_run_id)
        evaluation_run_id, scale = evaluation.id, evaluation.scale
        judges = await human_judges(svc, evaluation.id)
        if body.human_judge is not None:
            check_human_judge(judges, body.human_judge, evaluation.id, where="body")
            human_judge = body.human_judge
        elif judges:
            human_judge = judges[0]  # the one with the most judgments
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        sampled = await _review(svc).sample_candidates(
            evaluation.id,
            n=body.sample_size or DEFAULT_SAMPLE_SIZE,
            seed=seed,
            human_judge=human_judge,
        )
        candidates = [trial_candidate(c, human_grade=c.human_grade) for c in sampled]
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
    return JudgeTestResult(
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


def _provider(svc: Services, config: JudgeConfig) -> Provider:
    """The judge's provider, built the way the runner builds it for a judging run."""
    try:
        settings = provider_config(
            config, svc.secrets, max_answer_bytes=svc.settings.max_answer_bytes
        )
    except RunFailed as exc:
        raise ProviderFailed(str(exc)) from exc
    return svc.runner.provider_factory(settings, svc.runner.session)


# --- human grades ----------------------------------------------------------------------


async def human_grade_history(
    svc: Services, evaluation_run_id: str, candidate_id: str, params: HistoryParams
) -> Page[HumanGradeChange]:
    """Every write and delete of a candidate's human grades, with who and when, newest
    first (append-only: docs/security.md, "Who did it")."""
    return await _review(svc).human_grade_history(
        evaluation_run_id,
        candidate_id,
        judge=params.judge,
        limit=params.limit,
        cursor=params.cursor,
    )


# --- a judging run's full set, spot checks, agreement -----------------------------------


async def run_judgments(
    svc: Services, judging_run_id: str, *, limit: int, cursor: str | None
) -> Page[RunJudgment]:
    """Every judgment the run produced, current or overwritten by a later run since."""
    run = await svc.store.get_judging_run(judging_run_id)
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    return await _review(svc).run_judgments(run, evaluation.scale, limit=limit, cursor=cursor)


async def sample_judgments(
    svc: Services, evaluation_run_id: str, params: SampleParams
) -> JudgmentSample:
    """``n`` current judgments drawn at random; the answer's ``seed`` draws them again."""
    evaluation = await svc.store.get_evaluation_run(evaluation_run_id)
    seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
    items = await _review(svc).sample_judgments(
        evaluation, n=params.n, seed=seed, source=params.source
    )
    return JudgmentSample(seed=seed, items=items)


async def run_agreement(
    svc: Services, judging_run_id: str, params: AgreementParams
) -> AgreementReport:
    """Agreement of one judging run's judgments with one human judge's (the run's only
    one when not named; a 422 when it has several)."""
    run = await svc.store.get_judging_run(judging_run_id)
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    scale = evaluation.scale
    relevant_min_grade = checked_relevant_min_grade(
        scale, params.relevant_from, param="relevant_from"
    )
    judges = await human_judges(svc, evaluation.id)
    human_judge = params.human_judge
    if human_judge is not None:
        check_human_judge(judges, human_judge, evaluation.id)
    elif len(judges) > 1:
        raise ValidationFailed(
            "this evaluation run has several human judges; choose one with "
            f"?human_judge= ({', '.join(sorted(judges))})",
            details=[{"loc": ["query", "human_judge"], "judges": sorted(judges)}],
        )
    else:
        human_judge = judges[0] if judges else None
    counts = await _review(svc).agreement_counts(run.id, human_judge) if human_judge else {}
    in_scale = {k: v for k, v in counts.items() if scale.contains(k[0]) and scale.contains(k[1])}
    result = agreement(in_scale, list(range(scale.min, scale.max + 1)), relevant_min_grade)
    return AgreementReport(
        **figures(result, scale).model_dump(),
        ai_judging_run_id=run.id,
        evaluation_run_id=evaluation.id,
        ai_judge_name=run.ai_judge_name,
        human_judge=human_judge,
        scale=scale,
    )


# --- estimate --------------------------------------------------------------------------


async def estimate(svc: Services, evaluation_run_id: str, body: EstimateRequest) -> Estimate:
    """What a judging run of this judge and scope would send, and cost; no provider call."""
    evaluation = await svc.store.get_evaluation_run(evaluation_run_id)
    config = await svc.store.get_judge_config(body.ai_judge_id)
    return await estimate_run(
        _review(svc),
        evaluation,
        body.ai_judge_id,
        config,
        body.scope,
        svc.templates,
        reuse=body.reuse,
    )
