"""GET /evaluations/runs/{id}/metrics: trec_eval's measures from the judgments, checked
against ir_measures on random runs (ranks with gaps, unjudged candidates, two human
judges, a query without candidates)."""

from __future__ import annotations

import os
import random
from typing import Any

import asyncpg
import pytest

from tests.support.api import assert_error, create_evaluation
from tests.support.cli import run
from tests.support.metrics_data import RunData, ir_measures_for, judge, load, random_run, reference
from tests.support.service import TOKEN, Service, ServiceFactory

MEASURES = "ndcg@5,ndcg@10,p@3,p@10,ap,rr,judged@5"


async def metrics(service: Service, run_id: str, **params: Any) -> tuple[int, Any]:
    return await service.request(
        "GET", f"/evaluations/runs/{run_id}/metrics", params={k: str(v) for k, v in params.items()}
    )


def assert_matches(
    answer: dict[str, Any], data: RunData, expected: tuple[dict[str, float], Any]
) -> None:
    means, per_query = expected
    assert list(answer) == ["source", "relevant_min_grade", "measures", "queries"]
    assert list(answer["measures"]) == MEASURES.split(",")
    assert [q["query_id"] for q in answer["queries"]] == sorted(data.query_ids)
    for name, value in means.items():
        assert answer["measures"][name] == pytest.approx(value, abs=1e-9), name
    for item in answer["queries"]:
        assert set(item) == {"query_id", *MEASURES.split(",")}
        for name in MEASURES.split(","):
            want = per_query[item["query_id"]][name]
            assert item[name] == pytest.approx(want, abs=1e-9), (item["query_id"], name)


@pytest.mark.parametrize("scale", [(0, 3), (1, 5)])
async def test_every_source_equals_ir_measures(
    services: ServiceFactory, db: asyncpg.Pool, scale: tuple[int, int]
) -> None:
    data = random_run(random.Random(scale[1]), queries=9, scale=scale)
    data.query_ids.append("zz-empty")  # a query without candidates scores 0 everywhere
    service = await services.start()
    run_id = await load(service, db, data)
    default_relevant = -(-(scale[0] + scale[1]) // 2)  # the middle grade, rounded up
    for source in ("ai", "human", "human_else_ai"):
        status, answer = await metrics(service, run_id, measures=MEASURES, source=source)
        assert status == 200, answer
        assert (answer["source"], answer["relevant_min_grade"]) == (source, default_relevant)
        expected = reference(data, ir_measures_for(default_relevant, scale[0]), source=source)
        assert_matches(answer, data, expected)
        assert answer["queries"][-1] == {"query_id": "zz-empty", **dict.fromkeys(expected[0], 0)}

    status, strict = await metrics(
        service, run_id, measures=MEASURES, source="human", relevant_min_grade=scale[1]
    )
    assert status == 200 and strict["relevant_min_grade"] == scale[1]
    assert_matches(
        strict, data, reference(data, ir_measures_for(scale[1], scale[0]), source="human")
    )

    # The default source is human_else_ai.
    status, default = await metrics(service, run_id, measures=MEASURES)
    assert status == 200 and default["source"] == "human_else_ai"


async def test_one_human_judge_and_one_judging_runs_own_grades(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    rng = random.Random(7)
    data = random_run(rng, queries=8)
    service = await services.start()
    run_id = await load(service, db, data)
    status, runs = await service.request("GET", f"/evaluations/runs/{run_id}/ai-judging-runs")
    first = runs["items"][0]["id"]
    # A later judging run overwrites the current AI grades; the first keeps its own.
    later = {d.doc_id: rng.randint(0, 3) for d in data.docs}
    await judge(service, run_id, later)
    rel = ir_measures_for(2)

    for who in ("alice", "bob"):
        status, answer = await metrics(
            service, run_id, measures=MEASURES, source="human", human_judge=who
        )
        assert status == 200, answer
        assert_matches(answer, data, reference(data, rel, source="human", judge=who))

    status, current = await metrics(service, run_id, measures=MEASURES, source="ai")
    assert status == 200
    assert_matches(current, data, reference(data, rel, source="ai", ai=later))
    status, own = await metrics(
        service, run_id, measures=MEASURES, source="human_else_ai", ai_judging_run_id=first
    )
    assert status == 200, own
    assert_matches(own, data, reference(data, rel, source="human_else_ai"))
    assert own["measures"] != current["measures"]


async def test_bad_parameters_are_422_and_unknown_runs_404(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    run_id = evaluation["id"]

    status, body = await metrics(service, run_id, measures="ndcg@10,map,recall@5")
    error = assert_error(status, body, 422, "validation_error")
    assert "'map'" in error["message"] and "'recall@5'" in error["message"]
    assert error["details"][0]["unknown"] == ["map", "recall@5"]

    for params in (
        {"source": "panel"},
        {"relevant_min_grade": 0},  # the lowest grade: everything judged would be relevant
        {"relevant_min_grade": 4},
        {"human_judge": "carol"},
        {"measures": ""},
        {"colour": "blue"},
    ):
        status, body = await metrics(service, run_id, **params)
        assert_error(status, body, 422, "validation_error")

    other = await create_evaluation(service, queries=1, per_query=1)
    provider_run = await judge(service, other["id"], {})
    status, body = await metrics(service, run_id, ai_judging_run_id=provider_run)
    error = assert_error(status, body, 422, "validation_error")
    assert other["id"] in error["message"]

    for missing in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        status, body = await metrics(service, missing)
        assert_error(status, body, 404, "not_found")
        status, body = await metrics(service, run_id, ai_judging_run_id=missing)
        assert_error(status, body, 404, "not_found")

    # Nothing judged yet: every measure is 0 (judged@K too), never an error.
    status, empty = await metrics(service, run_id, measures="ndcg@10,judged@10")
    assert status == 200
    assert empty["measures"] == {"ndcg@10": 0.0, "judged@10": 0.0}
    assert len(empty["queries"]) == 2


async def _cli(service: Service, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "RELEVAL_URL": service.base_url, "RELEVAL_TOKEN": TOKEN}
    result = await run("releval_judge", "metrics", *args, env=env, timeout=60)
    return result.code, result.stdout, result.stderr


async def test_the_cli_prints_a_table(services: ServiceFactory, db: asyncpg.Pool) -> None:
    data = random_run(random.Random(3), queries=4)
    service = await services.start()
    run_id = await load(service, db, data)
    status, answer = await metrics(service, run_id, measures="ndcg@10,p@5", source="ai")
    assert status == 200

    code, out, err = await _cli(service, run_id, "--measures", "ndcg@10,p@5", "--source", "ai")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "source ai, relevant from grade 2"
    assert lines[1].split() == ["QUERY", "NDCG@10", "P@5"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:-2]}
    for item in answer["queries"]:
        assert rows[item["query_id"]] == [f"{item['ndcg@10']:.4f}", f"{item['p@5']:.4f}"]
    assert lines[-1].split() == [
        "mean",
        "(4",
        "queries)",
        f"{answer['measures']['ndcg@10']:.4f}",
        f"{answer['measures']['p@5']:.4f}",
    ]

    code, out, err = await _cli(service, run_id, "--measures", "ndcg@10,map")
    assert code == 1 and out == ""
    assert "unknown measure 'map'" in err
