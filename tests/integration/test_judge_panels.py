"""Judge panels end to end: members are normal judging runs, the aggregate becomes the
current AI judgment with the panel as judge of record, disagreement flags, lock, cancel,
resume after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from releval_judge.panels.aggregate import fleiss_kappa, krippendorff_alpha_ordinal, panel_agreement
from releval_judge.store.panels import AggregateWrite, PanelStore
from tests.support.api import assert_error, create_evaluation, wait_until_ended
from tests.support.fakes import FakeProvider
from tests.support.panels import (
    DISAGREE,
    GRADES,
    MAJORITY,
    make_panel,
    marked_text,
    member,
    start_panel,
    wait_panel_ended,
)
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory, wait_until_idle
from tests.support.waiting import wait_for


@pytest.fixture
async def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def gated(
    gate: asyncio.Event, local_servers: LocalServers
) -> AsyncIterator[list[FakeProvider]]:
    """The three members, answering nothing until ``gate`` is set (at the end at the latest)."""
    yield [await local_servers.start(member(i, gate)) for i in range(3)]
    gate.set()


async def test_a_panel_run_writes_the_majority_as_the_panels_judgment(
    services: ServiceFactory, panel_members: list[FakeProvider]
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, panel_members)
    assert panel["aggregation"] == "majority" and len(panel["ai_judge_ids"]) == 3
    status, listed = await service.request("GET", "/judge-panels")
    assert status == 200 and panel["id"] in [p["id"] for p in listed["items"]]
    status, got = await service.request("GET", f"/judge-panels/{panel['id']}")
    assert status == 200 and got == panel

    run = await start_panel(service, evaluation["id"], panel["id"])
    assert run["status"] == "running" and run["agreement"] is None
    assert [m["ai_judge_name"] for m in run["members"]] == ["member 0", "member 1", "member 2"]

    final = await wait_panel_ended(service, run["id"])
    assert final["status"] == "completed", final
    # Each member is a normal judging run of the evaluation run, listed beside the others.
    status, judging = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert {r["id"] for r in judging["items"]} == {m["ai_judging_run_id"] for m in run["members"]}
    for m in final["members"]:
        status, member_run = await service.request(
            "GET", f"/ai-judging-runs/{m['ai_judging_run_id']}"
        )
        assert member_run["status"] == "completed" and member_run["judged"] == 6

    triples = [list(GRADES[k]) for k in sorted(GRADES)]
    agreement = final["agreement"]
    assert agreement["candidates"] == 6 and agreement["complete_candidates"] == 6
    assert agreement["disagreements"] == len(DISAGREE)
    assert agreement["fleiss_kappa"] == pytest.approx(fleiss_kappa(triples))
    assert agreement["krippendorff_alpha_ordinal"] == pytest.approx(
        krippendorff_alpha_ordinal(triples)
    )

    status, page = await service.request("GET", f"/panel-runs/{run['id']}/judgments")
    assert status == 200
    by_doc = {j["doc_id"]: j for j in page["items"]}
    assert len(by_doc) == 6
    for (q, r), grades in GRADES.items():
        item = by_doc[f"d{q}-{r}"]
        assert item["member_grades"] == list(grades)
        assert item["grade"] == MAJORITY[(q, r)]
        assert item["disagreement"] is ((q, r) in DISAGREE)
    status, flagged = await service.request(
        "GET", f"/panel-runs/{run['id']}/judgments?disagreement=true"
    )
    assert {j["doc_id"] for j in flagged["items"]} == {"d1-2", "d2-1"}

    # The panel is the judge of record of the current AI judgments.
    status, current = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=ai"
    )
    assert status == 200 and len(current["items"]) == 6
    for j in current["items"]:
        q, r = (int(x) for x in j["doc_id"][1:].split("-"))
        assert j["judge"] == "three judges"
        assert j["grade"] == MAJORITY[(q, r)]
        assert j["ai_judging_run_id"] == run["id"]
        assert "judge panel" in j["reasoning"]

    # A judging run created later still overwrites the panel's judgments (seed rule).
    status, later = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge",
        json={"ai_judge_id": panel["ai_judge_ids"][0]},
    )
    assert status == 201, later
    await wait_until_ended(service, later["id"])  # queued first: claimed, then judged
    await wait_until_idle(service)
    status, current = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=ai"
    )
    assert {j["judge"] for j in current["items"]} == {"member 0"}


async def test_mean_and_median_panels(
    services: ServiceFactory, panel_members: list[FakeProvider]
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    expected = {
        "mean": {(1, 1): 2, (1, 2): 2, (1, 3): 1, (2, 1): 2, (2, 2): 2, (2, 3): 0},
        "median": {(1, 1): 2, (1, 2): 2, (1, 3): 1, (2, 1): 3, (2, 2): 2, (2, 3): 0},
    }
    for aggregation, grades in expected.items():
        panel = await make_panel(service, panel_members, aggregation)
        run = await start_panel(service, evaluation["id"], panel["id"])
        final = await wait_panel_ended(service, run["id"])
        assert final["status"] == "completed", final
        status, page = await service.request("GET", f"/panel-runs/{run['id']}/judgments")
        assert status == 200, page
        got = {(int(j["doc_id"][1]), int(j["doc_id"][3])): j["grade"] for j in page["items"]}
        assert got == grades, aggregation


async def test_refusals(services: ServiceFactory, panel_members: list[FakeProvider]) -> None:
    service = await services.start(max_active_runs_per_evaluation=2)
    evaluation = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, panel_members)

    status, body = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/judge-panel", json={"panel_id": panel["id"]}
    )
    assert_error(status, body, 409, "too_many_active_runs")

    status, body = await service.request(
        "PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True}
    )
    assert status == 200
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/judge-panel",
        json={"panel_id": panel["id"]},
    )
    assert_error(status, body, 409, "too_many_active_runs")  # checked before the lock

    two = await service.request(
        "POST",
        "/judge-panels",
        json={"name": "two", "ai_judge_ids": panel["ai_judge_ids"][:2]},
    )
    assert two[0] == 201
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/judge-panel",
        json={"panel_id": two[1]["id"]},
    )
    assert_error(status, body, 409, "evaluation_run_locked")
    # Nothing was started.
    _, judging = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert judging["items"] == []
    _, panel_runs = await service.request("GET", f"/evaluations/runs/{evaluation['id']}/panel-runs")
    assert panel_runs["items"] == []

    status, body = await service.request(
        "POST", "/judge-panels", json={"name": "one", "ai_judge_ids": panel["ai_judge_ids"][:1]}
    )
    assert_error(status, body, 422, "validation_error")
    status, body = await service.request(
        "POST",
        "/judge-panels",
        json={"name": "twice", "ai_judge_ids": [panel["ai_judge_ids"][0]] * 2},
    )
    assert_error(status, body, 422, "validation_error")
    status, body = await service.request(
        "POST",
        "/judge-panels",
        json={
            "name": "ghost",
            "ai_judge_ids": [panel["ai_judge_ids"][0], "00000000-0000-0000-0000-000000000000"],
        },
    )
    assert_error(status, body, 404, "not_found")
    status, body = await service.request("GET", "/panel-runs/nope")
    assert_error(status, body, 404, "not_found")


async def test_the_aggregate_is_not_written_on_a_locked_evaluation_run(
    services: ServiceFactory, panel_members: list[FakeProvider], db: asyncpg.Pool
) -> None:
    """The write's own lock check (as record_batch's): a panel run that reaches its
    aggregate after the evaluation run was locked writes nothing."""
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, panel_members)
    store = PanelStore(db)
    panel_run_id = await store.create_panel_run(
        panel["id"], evaluation["id"], scope="all", members=3, created_by="panel test"
    )
    await service.request("PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True})
    candidate = await db.fetchval(
        "SELECT id FROM candidates WHERE evaluation_run_id = $1::uuid LIMIT 1", evaluation["id"]
    )
    written, running = await store.finish_panel_run(
        evaluation["id"],
        panel_run_id,
        "three judges",
        [AggregateWrite(candidate, 2, False, "panel")],
        panel_agreement(3, [[2, 2, 2]]),
    )
    assert (written, running) == (False, True)
    assert (
        await db.fetchval("SELECT count(*) FROM ai_judgments WHERE candidate_id = $1", candidate)
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM panel_judgments WHERE panel_run_id = $1::uuid", panel_run_id
        )
        == 0
    )
    await store.end_panel_run(panel_run_id, "failed", "test")


async def test_a_lock_during_the_run_fails_the_panel(
    services: ServiceFactory, gated: list[FakeProvider], gate: asyncio.Event
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, gated)
    run = await start_panel(service, evaluation["id"], panel["id"])
    await service.request("PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True})
    gate.set()
    final = await wait_panel_ended(service, run["id"])
    assert final["status"] == "failed"
    assert "was locked" in final["error"] and "no aggregate written" in final["error"]
    status, current = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=ai"
    )
    assert status == 200 and current["items"] == []


async def test_cancel_cancels_the_members(
    services: ServiceFactory, gated: list[FakeProvider], gate: asyncio.Event
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, gated)
    run = await start_panel(service, evaluation["id"], panel["id"])

    status, body = await service.request("DELETE", f"/judge-panels/{panel['id']}")
    assert_error(status, body, 409, "panel_in_use")

    status, cancelled = await service.request("POST", f"/panel-runs/{run['id']}/cancel")
    assert status == 200, cancelled
    assert cancelled["status"] == "cancelled"
    assert {m["status"] for m in cancelled["members"]} == {"cancelled"}
    status, body = await service.request("POST", f"/panel-runs/{run['id']}/cancel")
    assert_error(status, body, 409, "panel_run_ended")
    gate.set()
    await wait_until_idle(service)
    status, again = await service.request("GET", f"/panel-runs/{run['id']}")
    assert again["status"] == "cancelled" and again["agreement"] is None

    status, _ = await service.request("DELETE", f"/judge-panels/{panel['id']}")
    assert status == 204
    status, body = await service.request("GET", f"/panel-runs/{run['id']}")
    assert status == 200 and body["panel_id"] is None and body["panel_name"] == "three judges"


async def test_a_panel_run_resumes_after_a_restart(
    services: ServiceFactory, gated: list[FakeProvider], gate: asyncio.Event
) -> None:
    first = await services.start(shutdown_grace_s=0.1)
    evaluation = await create_evaluation(first, texts=marked_text)
    panel = await make_panel(first, gated)
    run = await start_panel(first, evaluation["id"], panel["id"])

    async def calls_waiting() -> bool:
        return all(p.in_flight > 0 for p in gated)

    await wait_for(calls_waiting)
    await first.stop()  # members halted, the panel run left running
    gate.set()
    second = await services.start()
    final = await wait_panel_ended(second, run["id"])
    assert final["status"] == "completed", final
    assert final["agreement"]["disagreements"] == len(DISAGREE)
    status, current = await second.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=ai"
    )
    assert status == 200
    assert {j["judge"] for j in current["items"]} == {"three judges"}
