"""The review queue: candidates without a human grade, ordered by the documented priority
(panel disagreement, boundary grade, rank, query not yet in the human sample)."""

from __future__ import annotations

import math

import pytest

from tests.support.api import assert_error, create_evaluation
from tests.support.fakes import FakeProvider
from tests.support.panels import make_panel, marked_text, start_panel, wait_panel_ended
from tests.support.service import ServiceFactory


async def test_the_queue_orders_by_priority_and_says_why(
    services: ServiceFactory, panel_members: list[FakeProvider]
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    run_id = evaluation["id"]

    status, empty = await service.request("GET", f"/evaluations/runs/{run_id}/review-queue")
    assert status == 200 and empty["panel_run_id"] is None
    assert len(empty["items"]) == 6  # no AI grade yet: rank and sample only
    assert [i["doc_id"] for i in empty["items"][:2]] == ["d1-1", "d2-1"]

    panel = await make_panel(service, panel_members)
    panel_run = await start_panel(service, run_id, panel["id"])
    assert (await wait_panel_ended(service, panel_run["id"]))["status"] == "completed"
    # A human grade on d1-3: q1 is in the human sample now, d1-3 leaves the queue.
    _, judgments = await service.request(
        "GET", f"/evaluations/runs/{run_id}/judgments?source=ai&query_id=q1"
    )
    d13 = next(j for j in judgments["items"] if j["doc_id"] == "d1-3")
    status, _ = await service.request(
        "PUT",
        f"/evaluations/runs/{run_id}/candidates/{d13['candidate_id']}/judgments/alice",
        json={"grade": 1},
    )
    assert status == 200

    status, queue = await service.request("GET", f"/evaluations/runs/{run_id}/review-queue")
    assert status == 200, queue
    assert queue["panel_run_id"] == panel_run["id"]
    assert queue["relevant_min_grade"] == 2
    rank2 = 1 / math.log2(3)
    # Majority grades: q1 (2, 0, 1), q2 (3, 2, 0); panel disagreement on d1-2 and d2-1.
    expected = [
        ("d2-1", 2 + 1 + 1, ["panel_disagreement", "high_rank", "query_not_sampled"]),
        ("d1-2", 2 + rank2, ["panel_disagreement", "high_rank"]),  # ties d2-2: q1 first
        ("d2-2", 1 + rank2 + 1, ["boundary_grade", "high_rank", "query_not_sampled"]),
        ("d1-1", 1 + 1, ["boundary_grade", "high_rank"]),
        ("d2-3", 0.5 + 1, ["high_rank", "query_not_sampled"]),
    ]
    got = [(i["doc_id"], i["score"], i["reasons"]) for i in queue["items"]]
    assert [g[0] for g in got] == [e[0] for e in expected]
    for (_, score, reasons), (_, want_score, want_reasons) in zip(got, expected, strict=True):
        assert score == pytest.approx(want_score, abs=1e-6)
        assert reasons == want_reasons
    assert queue["items"][0]["ai_grade"] == 3 and queue["items"][0]["ai_judge"] == "three judges"

    status, short = await service.request("GET", f"/evaluations/runs/{run_id}/review-queue?limit=2")
    assert [i["doc_id"] for i in short["items"]] == ["d2-1", "d1-2"]

    # With relevant_min_grade 3 the boundary is grades 2 and 3.
    status, strict = await service.request(
        "GET", f"/evaluations/runs/{run_id}/review-queue?relevant_min_grade=3"
    )
    reasons = {i["doc_id"]: i["reasons"] for i in strict["items"]}
    assert "boundary_grade" in reasons["d2-1"] and "boundary_grade" not in reasons["d1-2"]

    status, body = await service.request(
        "GET", f"/evaluations/runs/{run_id}/review-queue?relevant_min_grade=4"
    )
    assert_error(status, body, 422, "validation_error")
    status, body = await service.request(
        "GET", "/evaluations/runs/00000000-0000-0000-0000-000000000000/review-queue"
    )
    assert_error(status, body, 404, "not_found")
