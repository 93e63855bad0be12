"""GET /ai-judging-runs/{id}/agreement: an AI judging run against a human judge."""

from __future__ import annotations

from typing import Any

import asyncpg
import krippendorff
import numpy as np
import pytest
from aiohttp import web
from sklearn.metrics import cohen_kappa_score

from tests.support.api import assert_error, create_evaluation
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.reviewing import candidate_ids, judge_with, put_human
from tests.support.service import Service, ServiceFactory

# The AI's grade for each rank: lenient on the lower ranks.
AI_BY_RANK = {1: 3, 2: 3, 3: 2, 4: 1}
# alice's grades by (query, rank); a few candidates she did not grade.
ALICE = {
    (1, 1): 3, (1, 2): 2, (1, 3): 1, (1, 4): 0,
    (2, 1): 3, (2, 2): 3, (2, 3): 2,
    (3, 1): 2, (3, 2): 1, (3, 4): 1,
}  # fmt: skip


async def ai_by_rank(prompt: str, call_no: int) -> web.Response:
    return completion(blocks({cid: AI_BY_RANK[int(cid)] for cid in document_ids(prompt)}))


async def _setup(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> tuple[Service, str, str]:
    provider = await fake_provider(ai_by_rank)
    service = await services.start()
    evaluation = await create_evaluation(
        service,
        queries=3,
        per_query=4,
        scale={"min": 0, "max": 3, "labels": {"0": "bad", "3": "perfect"}},
    )
    _, run = await judge_with(service, provider, evaluation["id"], batch_size=4)
    ids = await candidate_ids(db, evaluation["id"])
    for (q, r), grade in ALICE.items():
        status, body = await put_human(service, evaluation["id"], ids[f"d{q}-{r}"], "alice", grade)
        assert status == 200, body
    return service, evaluation["id"], run["id"]


async def _agreement(service: Service, run_id: str, **params: Any) -> tuple[int, Any]:
    return await service.request(
        "GET", f"/ai-judging-runs/{run_id}/agreement", params={k: str(v) for k, v in params.items()}
    )


async def test_the_report_matches_reference_implementations(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, run_id = await _setup(services, db, fake_provider)
    status, report = await _agreement(service, run_id, human_judge="alice")
    assert status == 200, report

    human = [g for g in ALICE.values()]
    ai = [AI_BY_RANK[r] for (_, r) in ALICE]
    assert report["pairs"] == len(ALICE) == 10
    assert (report["ai_judging_run_id"], report["evaluation_run_id"]) == (run_id, eval_id)
    assert (report["human_judge"], report["ai_judge_name"]) == ("alice", "test judge")
    assert report["exact_agreement"] == pytest.approx(
        sum(h == a for h, a in zip(human, ai, strict=True)) / 10
    )
    assert report["within_one_agreement"] == pytest.approx(
        sum(abs(h - a) <= 1 for h, a in zip(human, ai, strict=True)) / 10
    )
    labels = [0, 1, 2, 3]
    assert report["cohen_kappa"] == pytest.approx(cohen_kappa_score(human, ai, labels=labels))
    assert report["cohen_kappa_quadratic"] == pytest.approx(
        cohen_kappa_score(human, ai, labels=labels, weights="quadratic")
    )
    assert report["krippendorff_alpha_ordinal"] == pytest.approx(
        krippendorff.alpha(
            reliability_data=np.array([human, ai], dtype=float), level_of_measurement="ordinal"
        )
    )
    # Default threshold: the midpoint of 0–3 rounded up, 2.
    assert report["relevant_from"] == 2
    binary = cohen_kappa_score([int(h >= 2) for h in human], [int(a >= 2) for a in ai])
    assert report["binary_kappa"] == pytest.approx(binary)
    # The AI judge is more lenient: a positive mean signed difference.
    assert report["mean_signed_difference"] == pytest.approx(
        sum(a - h for h, a in zip(human, ai, strict=True)) / 10
    )
    assert report["mean_signed_difference"] > 0
    matrix = report["confusion_matrix"]
    assert (matrix["rows"], matrix["columns"], matrix["grades"]) == ("human", "ai", labels)
    assert matrix["labels"] == ["bad", None, None, "perfect"]
    expected = [[0] * 4 for _ in labels]
    for h, a in zip(human, ai, strict=True):
        expected[h][a] += 1
    assert matrix["counts"] == expected
    assert report["scale"] == {"min": 0, "max": 3, "labels": {"0": "bad", "3": "perfect"}}

    status, strict = await _agreement(service, run_id, human_judge="alice", relevant_from=3)
    assert status == 200
    assert strict["relevant_from"] == 3
    assert strict["binary_kappa"] == pytest.approx(
        cohen_kappa_score([int(h >= 3) for h in human], [int(a >= 3) for a in ai])
    )
    # With only one human judge, it need not be named.
    status, implicit = await _agreement(service, run_id)
    assert status == 200 and implicit["human_judge"] == "alice"
    assert implicit["pairs"] == 10


async def test_several_human_judges_need_a_choice_and_bad_parameters_are_422(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, run_id = await _setup(services, db, fake_provider)
    ids = await candidate_ids(db, eval_id)
    assert (await put_human(service, eval_id, ids["d1-1"], "bob", 1))[0] == 200

    status, body = await _agreement(service, run_id)
    error = assert_error(status, body, 422, "validation_error")
    assert "alice, bob" in error["message"]
    status, bob = await _agreement(service, run_id, human_judge="bob")
    assert status == 200 and bob["pairs"] == 1 and bob["exact_agreement"] == 0.0
    assert bob["cohen_kappa"] == pytest.approx(cohen_kappa_score([1], [3], labels=[0, 1, 2, 3]))

    cases: list[dict[str, Any]] = [
        {"human_judge": "carol"},
        {"human_judge": "alice", "relevant_from": 0},
        {"human_judge": "alice", "relevant_from": 4},
        {"human_judge": "alice", "relevant_from": "two"},
        {"human_judge": "alice", "colour": "blue"},
    ]
    for params in cases:
        status, body = await _agreement(service, run_id, **params)
        assert_error(status, body, 422, "validation_error")
    status, body = await _agreement(service, "00000000-0000-0000-0000-000000000000")
    assert_error(status, body, 404, "not_found")


async def test_no_pairs_means_zero_pairs_and_nulls(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    _, run = await judge_with(service, provider, evaluation["id"])
    status, report = await _agreement(service, run["id"])
    assert status == 200, report
    assert (report["pairs"], report["human_judge"]) == (0, None)
    for name in [
        "exact_agreement",
        "within_one_agreement",
        "cohen_kappa",
        "cohen_kappa_quadratic",
        "krippendorff_alpha_ordinal",
        "binary_kappa",
        "binary_agreement",
        "mean_signed_difference",
    ]:
        assert report[name] is None, name
    assert report["confusion_matrix"]["counts"] == [[0] * 4 for _ in range(4)]


async def test_identical_grades_agree_fully_with_undefined_kappa(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()  # grades every candidate 2
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=3)
    _, run = await judge_with(service, provider, evaluation["id"])
    ids = await candidate_ids(db, evaluation["id"])
    for doc in ids:
        assert (await put_human(service, evaluation["id"], ids[doc], "alice", 2))[0] == 200
    status, report = await _agreement(service, run["id"], human_judge="alice")
    assert status == 200
    assert (report["pairs"], report["exact_agreement"], report["mean_signed_difference"]) == (
        3,
        1.0,
        0.0,
    )
    assert report["cohen_kappa"] is None and report["krippendorff_alpha_ordinal"] is None
