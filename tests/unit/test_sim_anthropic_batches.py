"""The simulator's Anthropic Message Batches API (real HTTP server, injected clock)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from releval_judge.sim import SimConfig, StatsReport
from tests.support.sim import ANTHROPIC_HEADERS, CLIMATE_PROMPT, Client, Clock, grades, sim_client

BATCHES = "/v1/messages/batches"


def item(custom_id: str, **params: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": "claude-sim",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
            **params,
        },
    }


async def create(
    client: Client, requests: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    async with client.post(
        BATCHES, json={"requests": requests}, headers=headers or ANTHROPIC_HEADERS
    ) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def get_json(client: Client, path: str) -> Any:
    async with client.get(path, headers=ANTHROPIC_HEADERS) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def results(client: Client, url: str) -> list[dict[str, Any]]:
    async with client.session.get(url, headers=ANTHROPIC_HEADERS) as response:
        assert response.status == 200
        return [json.loads(text) for text in (await response.text()).splitlines()]


async def test_batch_cycle_from_in_progress_to_results(sim: Client, clock: Clock) -> None:
    ids = [f"q{i}-batch" for i in range(1, 5)]
    requests = [item(i) for i in ids[:3]] + [item(ids[3], reasoning_effort="low")]
    created = await create(sim, requests)
    async with sim.get(f"{BATCHES}/{created['id']}/results") as early:
        early_status = early.status
    clock.now += 1.0
    halfway = await get_json(sim, f"{BATCHES}/{created['id']}")
    clock.now += 1.0
    ended = await get_json(sim, f"{BATCHES}/{created['id']}")
    lines = await results(sim, ended["results_url"])
    async with sim.get("/stats") as response:
        report = StatsReport.model_validate_json(await response.read())

    assert created["id"].startswith("msgbatch_")
    assert created["type"] == "message_batch"
    assert created["processing_status"] == "in_progress"
    assert created["request_counts"] == {
        "processing": 4,
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert created["results_url"] is None and created["ended_at"] is None
    assert created["created_at"].endswith("Z") and created["cancel_initiated_at"] is None
    assert early_status == 404
    assert halfway["request_counts"]["processing"] == 2
    assert halfway["request_counts"]["succeeded"] == 2
    assert ended["processing_status"] == "ended"
    assert ended["ended_at"] is not None
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 3,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    assert ended["results_url"] == str(sim.make_url(f"{BATCHES}/{created['id']}/results"))
    assert sorted(line["custom_id"] for line in lines) == sorted(ids)
    by_id = {line["custom_id"]: line["result"] for line in lines}
    for custom_id in ids[:3]:
        message = by_id[custom_id]["message"]
        assert by_id[custom_id]["type"] == "succeeded"
        assert message["type"] == "message"
        assert set(grades(message["content"][0]["text"])) == {"1", "2", "3"}
        assert message["usage"]["input_tokens"] > 0
    assert by_id[ids[3]] == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "reasoning_effort: Extra inputs are not permitted",
            },
        },
    }
    assert (report.batches_created, report.batch_requests) == (1, 4)


async def test_results_come_in_a_shuffled_but_reproducible_order(clock: Clock) -> None:
    orders = []
    ids = [f"r{i:02d}" for i in range(20)]
    client = await sim_client(SimConfig(latency_ms=0, seed=3), clock)
    try:
        created = await create(client, [item(i) for i in ids])
        clock.now += 5
        ended = await get_json(client, f"{BATCHES}/{created['id']}")
        for _ in range(2):
            orders.append(
                [line["custom_id"] for line in await results(client, ended["results_url"])]
            )
    finally:
        await client.close()

    assert orders[0] == orders[1]
    assert orders[0] != ids
    assert sorted(orders[0]) == ids


async def test_cancel_goes_through_canceling_and_cancels_the_rest(
    sim: Client, clock: Clock
) -> None:
    created = await create(sim, [item(f"r{i}") for i in range(4)])
    clock.now += 1.0
    async with sim.post(f"{BATCHES}/{created['id']}/cancel", headers=ANTHROPIC_HEADERS) as r:
        assert r.status == 200
        canceling = await r.json()
    clock.now += 0.2
    ended = await get_json(sim, f"{BATCHES}/{created['id']}")
    lines = await results(sim, ended["results_url"])
    async with sim.post(f"{BATCHES}/{created['id']}/cancel", headers=ANTHROPIC_HEADERS) as r:
        again = r.status
    async with sim.get("/stats") as response:
        report = StatsReport.model_validate_json(await response.read())
    listing = await get_json(sim, "/sim/batches")

    assert canceling["processing_status"] == "canceling"
    assert canceling["cancel_initiated_at"] is not None
    assert canceling["request_counts"]["processing"] == 2
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 0,
        "canceled": 2,
        "expired": 0,
    }
    types = {line["custom_id"]: line["result"]["type"] for line in lines}
    assert types == {"r0": "succeeded", "r1": "succeeded", "r2": "canceled", "r3": "canceled"}
    assert again == 409
    assert report.batches_cancelled == 1
    assert [(b["provider"], b["status"], b["cancel_requested"]) for b in listing["data"]] == [
        ("anthropic", "ended", True)
    ]


async def test_expired_batch_expires_the_requests_not_run(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, batch_expiry_s=0.5), clock)
    try:
        created = await create(client, [item(f"r{i}") for i in range(4)])
        clock.now += 0.5
        ended = await get_json(client, f"{BATCHES}/{created['id']}")
        lines = await results(client, ended["results_url"])
    finally:
        await client.close()

    assert ended["processing_status"] == "ended"
    assert ended["request_counts"]["succeeded"] == 1
    assert ended["request_counts"]["expired"] == 3
    assert sorted(line["result"]["type"] for line in lines) == [
        "expired",
        "expired",
        "expired",
        "succeeded",
    ]


async def test_every_nth_request_is_errored_by_the_provider(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, batch_request_error_every=3), clock)
    try:
        created = await create(client, [item(f"r{i}") for i in range(1, 7)])
        clock.now += 5
        ended = await get_json(client, f"{BATCHES}/{created['id']}")
        lines = await results(client, ended["results_url"])
    finally:
        await client.close()

    errored = sorted(line["custom_id"] for line in lines if line["result"]["type"] == "errored")
    assert errored == ["r3", "r6"]
    error = next(line for line in lines if line["custom_id"] == "r3")["result"]["error"]
    assert error["error"]["message"] == "simulated provider error for this request"
    assert ended["request_counts"]["errored"] == 2


@pytest.mark.parametrize(
    ("requests", "fragment"),
    [
        ([], "requests"),
        ([item("has space")], "custom_id"),
        ([item("x" * 65)], "custom_id"),
        ([item("twice"), item("twice")], "twice"),
        ([{"custom_id": "no-params"}], "params"),
    ],
)
async def test_malformed_batches_are_refused(
    sim: Client, requests: list[dict[str, Any]], fragment: str
) -> None:
    async with sim.post(BATCHES, json={"requests": requests}, headers=ANTHROPIC_HEADERS) as r:
        status = r.status
        body = await r.json()

    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]


async def test_more_than_100000_requests_are_refused(sim: Client) -> None:
    requests = [{"custom_id": f"r{i}", "params": {}} for i in range(100_001)]
    body = io.BytesIO(json.dumps({"requests": requests}).encode())
    headers = {**ANTHROPIC_HEADERS, "Content-Type": "application/json"}
    async with sim.post(BATCHES, data=body, headers=headers) as r:
        assert r.status == 400
        assert "100000" in (await r.json())["error"]["message"]


async def test_list_is_newest_first_and_pages(sim: Client) -> None:
    ids = [(await create(sim, [item("r")]))["id"] for _ in range(3)]

    first = await get_json(sim, f"{BATCHES}?limit=2")
    rest = await get_json(sim, f"{BATCHES}?limit=2&after_id={first['last_id']}")

    assert [b["id"] for b in first["data"]] == [ids[2], ids[1]]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[2], ids[1], True)
    assert [b["id"] for b in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False


async def test_batches_need_the_x_api_key(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, api_key="sk-ant"), clock)
    try:
        async with client.post(
            BATCHES, json={"requests": [item("r")]}, headers=ANTHROPIC_HEADERS
        ) as response:
            refused = response.status, (await response.json())["error"]["type"]
        created = await create(client, [item("r")], {**ANTHROPIC_HEADERS, "x-api-key": "sk-ant"})
    finally:
        await client.close()

    assert refused == (401, "authentication_error")
    assert created["processing_status"] == "in_progress"
