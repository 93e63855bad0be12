"""GET /evaluations/compare: runs of several rankers over the same queries, side by side,
with paired differences against the first run, a randomisation test and Kendall's tau
between the systems' rankings under AI and under human grades."""

from __future__ import annotations

import itertools
import random
from typing import Any

import asyncpg
import pytest
from scipy.stats import kendalltau  # type: ignore[import-untyped]

from tests.support.api import assert_error, create_evaluation
from tests.support.metrics_data import ir_measures_for, load, random_run, reference
from tests.support.service import Service, ServiceFactory

MEASURES = "ndcg@10,p@3,ap,rr"
QUERIES = [f"q{i:02d}" for i in range(10)]


async def compare(service: Service, **params: Any) -> tuple[int, Any]:
    return await service.request(
        "GET", "/evaluations/compare", params={k: str(v) for k, v in params.items()}
    )


def exact_p(baseline: list[float], other: list[float]) -> float:
    """The sign-flip test over all 2^n assignments (the randomisation test's limit)."""
    diffs = [o - b for b, o in zip(baseline, other, strict=True)]
    observed = abs(sum(diffs))
    flips = list(itertools.product((1, -1), repeat=len(diffs)))
    return sum(
        abs(sum(s * d for s, d in zip(signs, diffs, strict=True))) >= observed - 1e-12
        for signs in flips
    ) / len(flips)


async def test_three_rankers_side_by_side(services: ServiceFactory, db: asyncpg.Pool) -> None:
    rng = random.Random(21)
    # Baseline and two rankers over the same queries; the third also has a query of its own.
    datas = [
        random_run(rng, query_ids=QUERIES, max_candidates=10, human_share=0.6),
        random_run(rng, query_ids=QUERIES, max_candidates=10, human_share=0.6),
        random_run(rng, query_ids=[*QUERIES, "q99-extra"], max_candidates=10, human_share=0.6),
    ]
    service = await services.start()
    ids = [await load(service, db, d, name=f"ranker {n}") for n, d in enumerate(datas)]

    status, answer = await compare(service, runs=",".join(ids), measures=MEASURES)
    assert status == 200, answer
    assert answer["baseline"] == ids[0] and answer["source"] == "human_else_ai"
    assert answer["relevant_min_grade"] == 2
    assert answer["shared_queries"] == len(QUERIES)
    assert answer["excluded_queries"] == {ids[0]: 0, ids[1]: 0, ids[2]: 1}
    assert [r["evaluation_run_id"] for r in answer["runs"]] == ids
    assert [r["name"] for r in answer["runs"]] == ["ranker 0", "ranker 1", "ranker 2"]
    assert [r["queries"] for r in answer["runs"]] == [10, 10, 11]
    assert answer["test"]["permutations"] == 10_000
    assert [q["query_id"] for q in answer["queries"]] == QUERIES

    # Per query and means: ir_measures' values over the shared queries.
    measures = {k: v for k, v in ir_measures_for(2).items() if k in MEASURES.split(",")}
    per_run = []
    for run_id, data, run in zip(ids, datas, answer["runs"], strict=True):
        data.query_ids = QUERIES  # the extra query is left out of every figure
        _, per_query = reference(data, measures, source="human_else_ai")
        per_run.append(per_query)
        for name in measures:
            mean = sum(per_query[q][name] for q in QUERIES) / len(QUERIES)
            assert run["measures"][name] == pytest.approx(mean, abs=1e-9)
        for item in answer["queries"]:
            for name in measures:
                got = item["runs"][run_id][name]
                assert got == pytest.approx(per_query[item["query_id"]][name], abs=1e-9)

    # Paired differences against the baseline, with p-values near the exact test's.
    differences = {(d["evaluation_run_id"], d["measure"]): d for d in answer["differences"]}
    assert set(differences) == {(i, m) for i in ids[1:] for m in MEASURES.split(",")}
    for n, run_id in enumerate(ids[1:], start=1):
        for name in measures:
            d = differences[(run_id, name)]
            baseline = [per_run[0][q][name] for q in QUERIES]
            other = [per_run[n][q][name] for q in QUERIES]
            assert d["difference"] == pytest.approx(
                (sum(other) - sum(baseline)) / len(QUERIES), abs=1e-9
            )
            assert d["mean"] - d["baseline_mean"] == pytest.approx(d["difference"])
            assert d["p_value"] == pytest.approx(exact_p(baseline, other), abs=0.015)

    # Kendall's tau between the rankings of the three systems under AI and human grades.
    for correlation in answer["rank_correlation"]:
        name = correlation["measure"]
        ai = [reference(d, measures, source="ai")[0][name] for d in datas]
        human = [reference(d, measures, source="human")[0][name] for d in datas]
        assert [correlation["ai"][i] for i in ids] == pytest.approx(ai, abs=1e-9)
        assert [correlation["human"][i] for i in ids] == pytest.approx(human, abs=1e-9)
        # Means equal up to rounding are ties (the service sums exactly, the reference not).
        tau = kendalltau([round(v, 12) for v in ai], [round(v, 12) for v in human]).statistic
        assert correlation["kendall_tau"] == pytest.approx(tau), (ai, human)
        assert correlation["reason"] is None

    # The same request gives the same p-values (fixed seed).
    status, again = await compare(service, runs=",".join(ids), measures=MEASURES)
    assert status == 200 and again["differences"] == answer["differences"]


async def test_a_clearly_better_ranker_is_significant(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    rng = random.Random(5)
    queries = [f"q{i:02d}" for i in range(30)]
    baseline = random_run(rng, query_ids=queries, max_candidates=8, human_share=0, ai_share=1)
    better = random_run(rng, query_ids=queries, max_candidates=8, human_share=0, ai_share=1)
    # The better ranker puts its most relevant documents first.
    for q in queries:
        docs = better.ranked(q)
        for doc, rank in zip(
            sorted(docs, key=lambda d: -(d.ai or 0)), sorted(d.rank for d in docs), strict=True
        ):
            doc.rank = rank
    service = await services.start()
    ids = [await load(service, db, baseline), await load(service, db, better)]
    status, answer = await compare(service, runs=",".join(ids), measures="ndcg@5", source="ai")
    assert status == 200, answer
    (difference,) = answer["differences"]
    assert difference["difference"] > 0.1 and difference["p_value"] < 0.01
    # No human grades: no rank correlation, and the answer says why.
    (correlation,) = answer["rank_correlation"]
    assert correlation["kendall_tau"] is None
    assert "no human grades" in correlation["reason"] and ids[0] in correlation["reason"]


async def test_bad_comparisons_are_refused(services: ServiceFactory) -> None:
    service = await services.start()
    a = await create_evaluation(service, queries=2, per_query=2)
    b = await create_evaluation(service, queries=2, per_query=2)
    other_scale = await create_evaluation(
        service, queries=2, per_query=2, scale={"min": 0, "max": 4}
    )
    missing = "00000000-0000-0000-0000-000000000000"

    for runs in (a["id"], f"{a['id']},{a['id']}", f"{a['id']},", f"{a['id']},{other_scale['id']}"):
        status, body = await compare(service, runs=runs)
        assert_error(status, body, 422, "validation_error")
    status, body = await compare(service)
    assert_error(status, body, 422, "validation_error")
    status, body = await compare(service, runs=f"{a['id']},{b['id']}", measures="ndcg@10,err@5")
    assert "'err@5'" in assert_error(status, body, 422, "validation_error")["message"]
    for unknown in (missing, "nope"):
        status, body = await compare(service, runs=f"{a['id']},{unknown}")
        assert_error(status, body, 404, "not_found")

    # Nothing judged: means of 0, p-values of 1, no rank correlation.
    status, answer = await compare(service, runs=f"{a['id']},{b['id']}", measures="ap")
    assert status == 200, answer
    assert answer["differences"][0]["p_value"] == 1.0
    assert answer["rank_correlation"][0]["kendall_tau"] is None
