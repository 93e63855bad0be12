"""GET /evaluations/runs/{id}/estimates: prediction-powered estimates from AI grades on
every query and human grades on a random sample of queries (the estimator's coverage is
checked on simulated data in tests/unit/test_ppi.py)."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import asyncpg
import pytest

from tests.support.api import assert_error, create_evaluation
from tests.support.metrics_data import (
    Doc,
    RunData,
    ir_measures_for,
    load,
    random_run,
    reference,
)
from tests.support.service import Service, ServiceFactory

MEASURES = "ndcg@5,p@3,ap"
Z = 1.959963984540054


async def estimates(service: Service, run_id: str, **params: Any) -> tuple[int, Any]:
    return await service.request(
        "GET",
        f"/evaluations/runs/{run_id}/estimates",
        params={k: str(v) for k, v in params.items()},
    )


def _sampled_run(rng: random.Random, queries: int, sample: int) -> tuple[RunData, list[str]]:
    """AI grades on every candidate, lenient; alice grades every candidate of ``sample``
    random queries, and one candidate of one more query."""
    data = random_run(rng, queries=queries, max_candidates=6, human_share=0, ai_share=1)
    chosen = rng.sample(data.query_ids, sample + 1)
    for q in chosen[:sample]:
        for doc in data.ranked(q):
            assert doc.ai is not None
            doc.human = [("alice", max(0, doc.ai - rng.choice([0, 0, 1, 1, 2])))]
    for doc in data.ranked(chosen[sample])[:1]:
        doc.human = [("alice", 0)]
    return data, chosen


def _clip(value: float) -> float:
    """Every measure here is a fraction: the answer clips to [0, 1]."""
    return min(max(value, 0.0), 1.0)


def _interval(values: list[float]) -> tuple[float, float, float]:
    mean = sum(values) / len(values)
    half = Z * math.sqrt(statistics.variance(values) / len(values))
    return _clip(mean), _clip(mean - half), _clip(mean + half)


async def test_the_estimates_beside_ai_only_and_human_only(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    rng = random.Random(17)
    data, chosen = _sampled_run(rng, queries=40, sample=12)
    data.query_ids = [q for q in data.query_ids if data.ranked(q)]  # each query has candidates
    service = await services.start()
    run_id = await load(service, db, data)
    status, answer = await estimates(service, run_id, measures=MEASURES)
    assert status == 200, answer
    assert answer["evaluation_run_id"] == run_id
    assert (answer["confidence"], answer["relevant_min_grade"]) == (0.95, 2)
    assert answer["queries"] == len(data.query_ids)
    sample = sorted(q for q in chosen if data.ranked(q))
    assert answer["sample_queries"] == len(sample)
    assert answer["incomplete_sample_queries"] == (1 if data.ranked(chosen[-1])[1:] else 0)
    assert any("below 30" in w for w in answer["warnings"]), answer["warnings"]

    measures = {k: v for k, v in ir_measures_for(2).items() if k in MEASURES.split(",")}
    _, ai = reference(data, measures, source="ai")
    _, human = reference(data, measures, source="human")
    assert [e["measure"] for e in answer["estimates"]] == MEASURES.split(",")
    for item in answer["estimates"]:
        name = item["measure"]
        ai_all = [ai[q][name] for q in data.query_ids]
        differences = [human[q][name] - ai[q][name] for q in sample]
        estimate = sum(ai_all) / len(ai_all) + sum(differences) / len(differences)
        half = Z * math.sqrt(
            statistics.variance(ai_all) / len(ai_all)
            + statistics.variance(differences) / len(differences)
        )
        powered = item["prediction_powered"]
        assert powered["estimate"] == pytest.approx(_clip(estimate), abs=1e-9)
        assert powered["low"] == pytest.approx(_clip(estimate - half), abs=1e-9)
        assert powered["high"] == pytest.approx(_clip(estimate + half), abs=1e-9)
        mean, low, high = _interval(ai_all)
        assert (item["ai_only"]["estimate"], item["ai_only"]["low"]) == pytest.approx((mean, low))
        assert item["ai_only"]["high"] == pytest.approx(high)
        mean, low, high = _interval([human[q][name] for q in sample])
        assert item["human_only"]["estimate"] == pytest.approx(mean, abs=1e-9)
        assert (item["human_only"]["low"], item["human_only"]["high"]) == pytest.approx((low, high))
        # Which is narrower is the data's answer, before clipping.
        human_half = Z * math.sqrt(
            statistics.variance([human[q][name] for q in sample]) / len(sample)
        )
        assert item["narrower_than_human_only"] == (half < human_half)
        # The AI judge is lenient: the correction lowers its estimate.
        assert powered["estimate"] <= item["ai_only"]["estimate"] + 1e-12

    # One human judge's grades only: bob graded nothing here.
    status, body = await estimates(service, run_id, human_judge="bob")
    assert_error(status, body, 422, "validation_error")
    status, alice = await estimates(service, run_id, measures=MEASURES, human_judge="alice")
    assert status == 200 and alice["estimates"] == answer["estimates"]


async def test_intervals_end_within_the_measures_range(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    # The AI grades both documents of every query relevant (AP 1); alice agrees on three
    # sampled queries and puts the first document of a fourth at 0 (AP 0.5). Unclipped,
    # both intervals are 0.875 ± 0.245: they would end at 1.12, above AP's maximum.
    docs = [
        Doc(f"q{q}", f"clip-q{q}-d{d}", d, ai=3, human=[("alice", 3)] if q < 4 else [])
        for q in range(10)
        for d in (1, 2)
    ]
    docs[6].human = [("alice", 0)]  # q3's first document
    service = await services.start()
    run_id = await load(service, db, RunData([f"q{q}" for q in range(10)], docs))
    status, answer = await estimates(service, run_id, measures="ap,rr,p@2,ndcg@2")
    assert status == 200, answer
    ap = next(e for e in answer["estimates"] if e["measure"] == "ap")
    powered = ap["prediction_powered"]
    assert powered["estimate"] == pytest.approx(0.875)
    assert powered["low"] == pytest.approx(0.875 - Z * 0.125)
    assert powered["high"] == 1.0
    assert ap["human_only"]["high"] == 1.0
    for item in answer["estimates"]:
        for kind in ("prediction_powered", "ai_only", "human_only"):
            ends = [v for v in item[kind].values() if v is not None]
            assert all(0.0 <= v <= 1.0 for v in ends), (item["measure"], kind, item[kind])


async def test_without_human_grades_there_is_no_estimate_and_the_answer_says_why(
    services: ServiceFactory,
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=3, per_query=2)
    status, answer = await estimates(service, evaluation["id"], measures="ap")
    assert status == 200, answer
    assert answer["sample_queries"] == 0
    (item,) = answer["estimates"]
    assert item["prediction_powered"] == {"estimate": None, "low": None, "high": None}
    assert item["human_only"]["estimate"] is None
    assert item["narrower_than_human_only"] is None
    assert any("no AI grades" in w for w in answer["warnings"])
    assert any("fewer than 2 queries" in w for w in answer["warnings"])

    status, body = await estimates(service, evaluation["id"], measures="ap,bpref")
    assert "'bpref'" in assert_error(status, body, 422, "validation_error")["message"]
    status, body = await estimates(service, "00000000-0000-0000-0000-000000000000")
    assert_error(status, body, 404, "not_found")
