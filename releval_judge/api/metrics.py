"""Retrieval metrics of an evaluation run, comparisons of runs, prediction-powered
estimates (docs/metrics.md). The figures are computed in ``releval_judge.metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import ValidationFailed
from releval_judge.metrics import ppi
from releval_judge.metrics.measures import (
    Measure,
    QueryScores,
    Source,
    UnknownMeasure,
    means,
    parse_measures,
    score_query,
)
from releval_judge.metrics.models import (
    ComparedQuery,
    ComparedRun,
    CompareParams,
    EstimatesParams,
    MeasureEstimate,
    MetricEstimates,
    MetricInterval,
    MetricsParams,
    PairedDifference,
    QueryMetrics,
    RetrievalMetrics,
    SignificanceTest,
    SystemComparison,
    SystemRankCorrelation,
)
from releval_judge.metrics.significance import (
    DEFAULT_PERMUTATIONS,
    DEFAULT_SEED,
    kendall_tau_b,
    paired_randomisation_test,
)
from releval_judge.models import EvaluationRun, EvaluationRunId
from releval_judge.review.agreement import default_relevant_from
from releval_judge.scale import Scale
from releval_judge.services import Services
from releval_judge.store.metrics import MetricsStore
from releval_judge.store.review import ReviewStore
from releval_judge.web.auth import services
from releval_judge.web.body import read_query
from releval_judge.web.responses import model_response

MAX_COMPARED_RUNS = 20
#: Fewer sampled queries than this and the normal approximation of an interval is rough.
MIN_SAMPLE = 30


def _measures(text: str) -> list[Measure]:
    try:
        return parse_measures(text)
    except UnknownMeasure as exc:
        raise ValidationFailed(
            str(exc), details=[{"loc": ["query", "measures"], "unknown": exc.names}]
        ) from exc


def _relevant_min_grade(scale: Scale, given: int | None) -> int:
    if given is None:
        return default_relevant_from(scale.min, scale.max)
    if not scale.min < given <= scale.max:
        raise ValidationFailed(
            f"relevant_min_grade {given} must be above the scale's lowest grade and at most "
            f"its highest ({scale.min + 1}–{scale.max})",
            details=[{"loc": ["query", "relevant_min_grade"], "input": given}],
        )
    return given


async def _check_human_judge(svc: Services, evaluation: EvaluationRun, judge: str | None) -> None:
    if judge is None:
        return
    judges = [j.judge for j in await ReviewStore(svc.store).human_judges(evaluation.id)]
    if judge not in judges:
        raise ValidationFailed(
            f"human judge {judge!r} has no judgments on evaluation run {evaluation.id}"
            + (f" (human judges: {', '.join(sorted(judges))})" if judges else ""),
            details=[{"loc": ["query", "human_judge"], "input": judge}],
        )


async def _check_judging_run(
    svc: Services, evaluation: EvaluationRun, judging_run_id: str | None
) -> None:
    if judging_run_id is None:
        return
    run = await svc.store.get_judging_run(judging_run_id)  # NotFound: 404
    if run.evaluation_run_id != evaluation.id:
        raise ValidationFailed(
            f"AI judging run {run.id} judged evaluation run {run.evaluation_run_id}, "
            f"not {evaluation.id}",
            details=[{"loc": ["query", "ai_judging_run_id"], "input": judging_run_id}],
        )


async def _scores(
    svc: Services,
    evaluation: EvaluationRun,
    measures: Sequence[Measure],
    sources: Sequence[Source],
    relevant_min_grade: int,
    *,
    human_judge: str | None = None,
    ai_judging_run_id: str | None = None,
) -> list[QueryScores]:
    """Each query's measures under ``sources``, in query_id order."""
    store = MetricsStore(svc.store.pool)
    return [
        score_query(
            query,
            measures,
            sources,
            scale_min=evaluation.scale.min,
            relevant_min_grade=relevant_min_grade,
        )
        async for query in store.ranked_queries(
            evaluation.id, ai_judging_run_id=ai_judging_run_id, human_judge=human_judge
        )
    ]


# --- metrics of one run ----------------------------------------------------------------


async def run_metrics(request: Request) -> Response:
    """nDCG@K, P@K, AP, RR, judged@K per query and as means over the run's queries."""
    svc = services(request)
    params = read_query(request, MetricsParams)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    measures = _measures(params.measures)
    relevant_min_grade = _relevant_min_grade(evaluation.scale, params.relevant_min_grade)
    await _check_human_judge(svc, evaluation, params.human_judge)
    await _check_judging_run(svc, evaluation, params.ai_judging_run_id)
    scores = await _scores(
        svc,
        evaluation,
        measures,
        [params.source],
        relevant_min_grade,
        human_judge=params.human_judge,
        ai_judging_run_id=params.ai_judging_run_id,
    )
    return model_response(
        RetrievalMetrics(
            source=params.source,
            relevant_min_grade=relevant_min_grade,
            measures=means(scores, measures, params.source),
            queries=[QueryMetrics(query_id=s.query_id, **s.values[params.source]) for s in scores],
        )
    )


# --- comparison of runs ----------------------------------------------------------------


def _run_ids(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",")]
    if any(not i for i in ids) or not 2 <= len(ids) <= MAX_COMPARED_RUNS:
        raise ValidationFailed(
            f"runs: give 2 to {MAX_COMPARED_RUNS} comma-separated evaluation run ids, the "
            "baseline first",
            details=[{"loc": ["query", "runs"], "input": text}],
        )
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValidationFailed(
            f"runs: {', '.join(repeated)} given more than once",
            details=[{"loc": ["query", "runs"], "input": text}],
        )
    return ids


async def compare_runs(request: Request) -> Response:
    """Several evaluation runs (one per ranker) over the same queries, side by side."""
    svc = services(request)
    params = read_query(request, CompareParams)
    ids = _run_ids(params.runs)
    measures = _measures(params.measures)
    evaluations = [await svc.store.get_evaluation_run(i) for i in ids]
    scales = {(e.scale.min, e.scale.max) for e in evaluations}
    if len(scales) > 1:
        raise ValidationFailed(
            "the runs grade on different scales ("
            + ", ".join(f"{e.id}: {e.scale.describe()}" for e in evaluations)
            + "); metrics are comparable on one scale only",
            details=[{"loc": ["query", "runs"], "input": params.runs}],
        )
    relevant_min_grade = _relevant_min_grade(evaluations[0].scale, params.relevant_min_grade)
    if params.human_judge is not None:
        for evaluation in evaluations:
            await _check_human_judge(svc, evaluation, params.human_judge)
    sources: list[Source] = [params.source, "ai", "human"]
    per_run = [
        await _scores(svc, e, measures, sources, relevant_min_grade, human_judge=params.human_judge)
        for e in evaluations
    ]
    comparison = await asyncio.to_thread(
        _comparison, evaluations, per_run, measures, params.source, relevant_min_grade
    )
    return model_response(comparison)


def _comparison(
    evaluations: Sequence[EvaluationRun],
    per_run: Sequence[list[QueryScores]],
    measures: Sequence[Measure],
    source: Source,
    relevant_min_grade: int,
) -> SystemComparison:
    """The figures of a comparison (CPU only: run in a worker thread)."""
    shared = set.intersection(*({s.query_id for s in scores} for scores in per_run))
    # Every run's shared queries in the baseline's order, so that lists pair by query.
    order = [s.query_id for s in per_run[0] if s.query_id in shared]
    kept = [[by_id[q] for q in order] for by_id in ({s.query_id: s for s in r} for r in per_run)]
    ids = [EvaluationRunId(e.id) for e in evaluations]
    run_means = [means(scores, measures, source) for scores in kept]
    differences: list[PairedDifference] = []
    for run_id, scores, run_mean in zip(ids[1:], kept[1:], run_means[1:], strict=True):
        for m in measures:
            baseline = [s.values[source][m.key] for s in kept[0]]
            other = [s.values[source][m.key] for s in scores]
            differences.append(
                PairedDifference(
                    evaluation_run_id=run_id,
                    measure=m.key,
                    baseline_mean=run_means[0][m.key],
                    mean=run_mean[m.key],
                    difference=run_mean[m.key] - run_means[0][m.key],
                    p_value=paired_randomisation_test(baseline, other),
                )
            )
    return SystemComparison(
        source=source,
        relevant_min_grade=relevant_min_grade,
        baseline=ids[0],
        runs=[
            ComparedRun(evaluation_run_id=i, name=e.name, queries=len(scores), measures=m)
            for i, e, scores, m in zip(ids, evaluations, per_run, run_means, strict=True)
        ],
        shared_queries=len(shared),
        excluded_queries={
            i: len(scores) - len(shared) for i, scores in zip(ids, per_run, strict=True)
        },
        test=SignificanceTest(permutations=DEFAULT_PERMUTATIONS, seed=DEFAULT_SEED),
        differences=differences,
        rank_correlation=[_rank_correlation(ids, evaluations, kept, m) for m in measures],
        queries=[
            ComparedQuery(
                query_id=query_id,
                runs={i: scores[n].values[source] for i, scores in zip(ids, kept, strict=True)},
            )
            for n, query_id in enumerate(order)
        ],
    )


def _rank_correlation(
    ids: Sequence[str],
    evaluations: Sequence[EvaluationRun],
    kept: Sequence[list[QueryScores]],
    measure: Measure,
) -> SystemRankCorrelation:
    ai = {
        i: means(scores, [measure], "ai")[measure.key] for i, scores in zip(ids, kept, strict=True)
    }
    human = {
        i: means(scores, [measure], "human")[measure.key]
        for i, scores in zip(ids, kept, strict=True)
    }
    missing = [
        f"{e.name} ({e.id}) has no {kind} grades on the shared queries"
        for e, scores in zip(evaluations, kept, strict=True)
        for kind, count in (
            ("AI", sum(s.ai_judged for s in scores)),
            ("human", sum(s.human_judged for s in scores)),
        )
        if count == 0
    ]
    tau = None
    if missing:
        reason: str | None = "; ".join(missing)
    else:
        tau = kendall_tau_b([ai[i] for i in ids], [human[i] for i in ids])
        reason = None if tau is not None else "every run has the same mean under one source"
    return SystemRankCorrelation(
        measure=measure.key, kendall_tau=tau, reason=reason, ai=ai, human=human
    )


# --- prediction-powered estimates ------------------------------------------------------


def _interval(interval: ppi.Interval) -> MetricInterval:
    return MetricInterval(estimate=interval.estimate, low=interval.low, high=interval.high)


async def run_estimates(request: Request) -> Response:
    """Each measure estimated from AI grades on every query corrected by the human grades
    of a sample of queries, beside the AI-only and human-only estimates."""
    svc = services(request)
    params = read_query(request, EstimatesParams)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
    measures = _measures(params.measures)
    relevant_min_grade = _relevant_min_grade(evaluation.scale, params.relevant_min_grade)
    await _check_human_judge(svc, evaluation, params.human_judge)
    await _check_judging_run(svc, evaluation, params.ai_judging_run_id)
    scores = await _scores(
        svc,
        evaluation,
        measures,
        ["ai", "human"],
        relevant_min_grade,
        human_judge=params.human_judge,
        ai_judging_run_id=params.ai_judging_run_id,
    )
    sample = [s for s in scores if s.human_judged > 0]
    incomplete = sum(s.human_judged < s.candidates for s in sample)
    estimates: list[MeasureEstimate] = []
    wider: list[str] = []
    for m in measures:
        ai = [s.values["ai"][m.key] for s in scores]
        human = [s.values["human"][m.key] for s in sample]
        ai_sample = [s.values["ai"][m.key] for s in sample]
        powered = ppi.prediction_powered(ai, human, ai_sample)
        human_only = ppi.human_only(human)
        narrower = None
        if powered.width is not None and human_only.width is not None:
            narrower = powered.width < human_only.width
            if powered.width > human_only.width:
                wider.append(m.key)
        estimates.append(
            MeasureEstimate(
                measure=m.key,
                prediction_powered=_interval(powered),
                ai_only=_interval(ppi.ai_only(ai)),
                human_only=_interval(human_only),
                narrower_than_human_only=narrower,
            )
        )
    warnings = _warnings(scores, sample, incomplete, wider)
    return model_response(
        MetricEstimates(
            evaluation_run_id=EvaluationRunId(evaluation.id),
            relevant_min_grade=relevant_min_grade,
            confidence=ppi.CONFIDENCE,
            queries=len(scores),
            sample_queries=len(sample),
            incomplete_sample_queries=incomplete,
            estimates=estimates,
            warnings=warnings,
        )
    )


def _warnings(
    scores: Sequence[QueryScores],
    sample: Sequence[QueryScores],
    incomplete: int,
    wider: Sequence[str],
) -> list[str]:
    warnings: list[str] = []
    if not any(s.ai_judged for s in scores):
        warnings.append("no AI grades: run an AI judge on the evaluation run first")
    if len(sample) < 2:
        warnings.append(
            "fewer than 2 queries have human grades: no interval; grade every candidate of "
            "a random sample of queries"
        )
    elif len(sample) < MIN_SAMPLE:
        warnings.append(
            f"only {len(sample)} queries have human grades: below {MIN_SAMPLE} the normal "
            "approximation of the intervals is rough"
        )
    if incomplete:
        warnings.append(
            f"{incomplete} sampled queries have candidates without a human grade; they count "
            "as not relevant in the human-only and prediction-powered estimates"
        )
    if wider:
        warnings.append(
            "the prediction-powered interval is wider than the human-only one for "
            f"{', '.join(wider)}: the AI grades do not track the human ones there; use the "
            "human-only estimate"
        )
    return warnings
