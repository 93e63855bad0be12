"""Retrieval metrics of an evaluation run, comparisons of runs, prediction-powered
estimates (docs/metrics.md). The figures are computed in ``releval_judge.metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

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
from releval_judge.services import Services
from releval_judge.services.checks import (
    check_human_judge,
    checked_relevant_min_grade,
    human_judges,
)
from releval_judge.store.metrics import MetricsStore

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


async def _check_human_judge(svc: Services, evaluation: EvaluationRun, judge: str | None) -> None:
    if judge is not None:
        check_human_judge(await human_judges(svc, evaluation.id), judge, evaluation.id)


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


@dataclass(frozen=True)
class _RunScores:
    """One evaluation run's queries scored as its metrics and its estimates need them."""

    evaluation: EvaluationRun
    measures: list[Measure]
    relevant_min_grade: int
    scores: list[QueryScores]


async def _run_scores(
    svc: Services,
    evaluation_run_id: str,
    params: MetricsParams | EstimatesParams,
    sources: Sequence[Source],
) -> _RunScores:
    """The run's queries scored under ``sources`` with the measures, the relevance
    threshold, the human judge and the AI judging run ``params`` name (each checked
    against the run)."""
    evaluation = await svc.store.get_evaluation_run(evaluation_run_id)
    measures = _measures(params.measures)
    relevant_min_grade = checked_relevant_min_grade(evaluation.scale, params.relevant_min_grade)
    await _check_human_judge(svc, evaluation, params.human_judge)
    await _check_judging_run(svc, evaluation, params.ai_judging_run_id)
    scores = await _scores(
        svc,
        evaluation,
        measures,
        sources,
        relevant_min_grade,
        human_judge=params.human_judge,
        ai_judging_run_id=params.ai_judging_run_id,
    )
    return _RunScores(evaluation, measures, relevant_min_grade, scores)


# --- metrics of one run ----------------------------------------------------------------


async def run_metrics(
    svc: Services, evaluation_run_id: str, params: MetricsParams
) -> RetrievalMetrics:
    """nDCG@K, P@K, AP, RR, judged@K per query and as means over the run's queries."""
    run = await _run_scores(svc, evaluation_run_id, params, [params.source])
    return RetrievalMetrics(
        source=params.source,
        relevant_min_grade=run.relevant_min_grade,
        measures=means(run.scores, run.measures, params.source),
        queries=[QueryMetrics(query_id=s.query_id, **s.values[params.source]) for s in run.scores],
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


async def compare_runs(svc: Services, params: CompareParams) -> SystemComparison:
    """Several evaluation runs (one per ranker) over the same queries, side by side."""
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
    relevant_min_grade = checked_relevant_min_grade(evaluations[0].scale, params.relevant_min_grade)
    if params.human_judge is not None:
        for evaluation in evaluations:
            await _check_human_judge(svc, evaluation, params.human_judge)
    sources: list[Source] = [params.source, "ai", "human"]
    per_run = [
        await _scores(svc, e, measures, sources, relevant_min_grade, human_judge=params.human_judge)
        for e in evaluations
    ]
    return await asyncio.to_thread(
        _comparison, evaluations, per_run, measures, params.source, relevant_min_grade
    )


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


def _interval(interval: ppi.Interval, measure: Measure) -> MetricInterval:
    """The interval as answered: clipped to the values the measure can take."""
    clipped = interval.clipped(*measure.bounds)
    return MetricInterval(estimate=clipped.estimate, low=clipped.low, high=clipped.high)


async def run_estimates(
    svc: Services, evaluation_run_id: str, params: EstimatesParams
) -> MetricEstimates:
    """Each measure estimated from AI grades on every query corrected by the human grades
    of a sample of queries, beside the AI-only and human-only estimates."""
    run = await _run_scores(svc, evaluation_run_id, params, ["ai", "human"])
    scores = run.scores
    sample = [s for s in scores if s.human_judged > 0]
    incomplete = sum(s.human_judged < s.candidates for s in sample)
    estimates: list[MeasureEstimate] = []
    wider: list[str] = []
    for m in run.measures:
        ai = [s.values["ai"][m.key] for s in scores]
        human = [s.values["human"][m.key] for s in sample]
        ai_sample = [s.values["ai"][m.key] for s in sample]
        powered = ppi.prediction_powered(ai, human, ai_sample)
        human_only = ppi.human_only(human)
        # Compared before clipping: which interval the data make narrower.
        narrower = None
        if powered.width is not None and human_only.width is not None:
            narrower = powered.width < human_only.width
            if powered.width > human_only.width:
                wider.append(m.key)
        estimates.append(
            MeasureEstimate(
                measure=m.key,
                prediction_powered=_interval(powered, m),
                ai_only=_interval(ppi.ai_only(ai), m),
                human_only=_interval(human_only, m),
                narrower_than_human_only=narrower,
            )
        )
    return MetricEstimates(
        evaluation_run_id=EvaluationRunId(run.evaluation.id),
        relevant_min_grade=run.relevant_min_grade,
        confidence=ppi.CONFIDENCE,
        queries=len(scores),
        sample_queries=len(sample),
        incomplete_sample_queries=incomplete,
        estimates=estimates,
        warnings=_warnings(scores, sample, incomplete, wider),
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
