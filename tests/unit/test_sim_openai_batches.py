"""The simulator's OpenAI Files and Batch APIs (real HTTP server, injected clock)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from releval_judge.sim import SimConfig, StatsReport
from releval_judge.sim.batches import progress, schedule
from tests.support.sim import CLIMATE_PROMPT, Client, Clock, grades, sim_client


def line(
    custom_id: str, url: str = "/v1/chat/completions", model: str = "gpt-sim", **body: Any
) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": url,
        "body": {
            "model": model,
            "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
            **body,
        },
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in lines).encode()


async def upload(
    client: Client, content: bytes, prefix: str = "/v1", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", content, filename="input.jsonl", content_type="application/jsonl")
    async with client.post(f"{prefix}/files", data=form, headers=headers) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def create(
    client: Client,
    content: bytes,
    prefix: str = "/v1",
    endpoint: str = "/v1/chat/completions",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    file = await upload(client, content, prefix, headers)
    body = {"input_file_id": file["id"], "endpoint": endpoint, "completion_window": "24h"}
    async with client.post(f"{prefix}/batches", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def get_json(client: Client, path: str, headers: dict[str, str] | None = None) -> Any:
    async with client.get(path, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def file_lines(client: Client, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    async with client.get(f"/v1/files/{file_id}/content") as response:
        assert response.status == 200
        return [json.loads(text) for text in (await response.text()).splitlines()]


async def stats(client: Client) -> StatsReport:
    async with client.get("/stats") as response:
        return StatsReport.model_validate_json(await response.read())


def test_timeline_validates_runs_finalizes_and_completes() -> None:
    plan = schedule("openai", 100.0, SimConfig(batch_completion_s=10.0))

    statuses = [progress(plan, 8, 100.0 + t) for t in (0.5, 1.0, 5.0, 9.5, 10.0)]

    assert [p.status for p in statuses] == [
        "validating",
        "in_progress",
        "in_progress",
        "finalizing",
        "completed",
    ]
    assert [p.ran for p in statuses] == [0, 0, 4, 8, 8]
    assert statuses[-1].ended_at == 110.0


async def test_batch_runs_every_request_like_the_live_route(sim: Client, clock: Clock) -> None:
    ids = ["q1-b1", "q1-b2", "q2-b1", "q2-b2"]
    lines = [line(i) for i in ids[:3]] + [line(ids[3], reasoning_effort="low")]
    created = await create(sim, jsonl(lines), endpoint="/v1/chat/completions")
    at_start = created

    clock.now += 1.0
    halfway = await get_json(sim, f"/v1/batches/{created['id']}")
    clock.now += 0.9
    finalizing = await get_json(sim, f"/v1/batches/{created['id']}")
    clock.now += 0.1
    done = await get_json(sim, f"/v1/batches/{created['id']}")
    output = await file_lines(sim, done["output_file_id"])
    errors = await file_lines(sim, done["error_file_id"])
    report = await stats(sim)

    assert at_start["status"] == "validating"
    assert at_start["object"] == "batch"
    assert at_start["request_counts"] == {"total": 4, "completed": 0, "failed": 0}
    assert at_start["output_file_id"] is None and at_start["errors"] is None
    assert at_start["expires_at"] == at_start["created_at"] + 86_400
    assert halfway["status"] == "in_progress"
    assert halfway["request_counts"] == {"total": 4, "completed": 2, "failed": 0}
    assert finalizing["status"] == "finalizing"
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    for key in ("in_progress_at", "finalizing_at", "completed_at"):
        assert isinstance(done[key], int)
    assert done["failed_at"] is None and done["cancelled_at"] is None

    assert sorted(o["custom_id"] for o in output + errors) == sorted(ids)
    for item in output:
        assert item["id"].startswith("batch_req_")
        assert item["error"] is None
        assert item["response"]["status_code"] == 200
        completion = item["response"]["body"]
        assert completion["object"] == "chat.completion"
        assert set(grades(completion["choices"][0]["message"]["content"])) == {"1", "2", "3"}
        assert completion["usage"]["prompt_tokens"] > 0
    [error] = errors
    assert error["custom_id"] == "q2-b2"
    assert error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["code"] == "unsupported_parameter"
    assert error["response"]["body"]["error"]["param"] == "reasoning_effort"
    assert (report.files_uploaded, report.batches_created, report.batch_requests) == (1, 1, 4)
    assert report.calls == 0
    assert report.input_tokens > 0


async def test_batch_requests_share_the_prompt_cache(sim: Client, clock: Clock) -> None:
    long_prompt = "Judge each document for the query below. " * 120 + CLIMATE_PROMPT
    lines = [
        {
            **line(f"b{i}"),
            "body": {"model": "gpt-sim", "messages": [{"role": "user", "content": long_prompt}]},
        }
        for i in range(2)
    ]
    created = await create(sim, jsonl(lines))
    clock.now += 5
    done = await get_json(sim, f"/v1/batches/{created['id']}")
    output = await file_lines(sim, done["output_file_id"])

    cached = {
        o["custom_id"]: o["response"]["body"]["usage"]["prompt_tokens_details"]["cached_tokens"]
        for o in output
    }
    assert cached["b0"] == 0
    assert cached["b1"] >= 1024


async def test_expired_batch_reports_the_requests_it_did_not_run(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, batch_expiry_s=1.0), clock)
    try:
        created = await create(client, jsonl([line(f"r{i}") for i in range(4)]))
        clock.now += 1.0
        expired = await get_json(client, f"/v1/batches/{created['id']}")
        output = await file_lines(client, expired["output_file_id"])
        errors = await file_lines(client, expired["error_file_id"])
    finally:
        await client.close()

    assert expired["status"] == "expired"
    assert expired["expired_at"] == int(clock.now)
    assert expired["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
    assert [o["custom_id"] for o in output] == ["r0", "r1"]
    assert [e["custom_id"] for e in errors] == ["r2", "r3"]
    assert errors[0]["response"] is None
    assert errors[0]["error"] == {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    }


async def test_cancel_goes_through_cancelling_and_keeps_what_ran(sim: Client, clock: Clock) -> None:
    created = await create(sim, jsonl([line(f"r{i}") for i in range(4)]))
    clock.now += 1.0
    async with sim.post(f"/v1/batches/{created['id']}/cancel") as response:
        assert response.status == 200
        cancelling = await response.json()
    clock.now += 5.0
    cancelled = await get_json(sim, f"/v1/batches/{created['id']}")
    output = await file_lines(sim, cancelled["output_file_id"])
    async with sim.post(f"/v1/batches/{created['id']}/cancel") as again:
        conflict = again.status
    report = await stats(sim)
    listing = await get_json(sim, "/sim/batches")

    assert cancelling["status"] == "cancelling"
    assert cancelling["cancelling_at"] == int(clock.now - 5.0)
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] == int(clock.now - 5.0 + 0.2)
    assert cancelled["request_counts"] == {"total": 4, "completed": 2, "failed": 0}
    assert [o["custom_id"] for o in output] == ["r0", "r1"]
    assert cancelled["error_file_id"] is None
    assert conflict == 409
    assert report.batches_cancelled == 1
    assert listing["data"] == [
        {
            "id": created["id"],
            "provider": "openai",
            "status": "cancelled",
            "total": 4,
            "ran": 2,
            "succeeded": 2,
            "cancel_requested": True,
        }
    ]


async def test_an_invalid_input_file_fails_the_batch_with_line_errors(
    sim: Client, clock: Clock
) -> None:
    content = b"\n".join(
        [
            json.dumps(line("a")).encode(),
            b"{not json",
            json.dumps(line("b", url="/v1/embeddings")).encode(),
            json.dumps(line("a")).encode(),
            json.dumps(line("c", model="gpt-other")).encode(),
        ]
    )
    created = await create(sim, content)
    clock.now += 1.0
    failed = await get_json(sim, f"/v1/batches/{created['id']}")

    assert created["status"] == "validating"
    assert failed["status"] == "failed"
    assert failed["failed_at"] == int(created["created_at"] + 0.2)
    assert failed["errors"]["object"] == "list"
    assert [(e["code"], e["line"]) for e in failed["errors"]["data"]] == [
        ("invalid_json_line", 2),
        ("url_mismatch", 3),
        ("duplicate_custom_id", 4),
        ("model_mismatch", 5),
    ]
    assert failed["errors"]["data"][1]["param"] == "url"
    assert failed["output_file_id"] is None and failed["error_file_id"] is None


async def test_more_lines_than_batch_max_requests_fail_the_batch(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, batch_max_requests=2), clock)
    try:
        created = await create(client, jsonl([line(f"r{i}") for i in range(3)]))
        clock.now += 1.0
        failed = await get_json(client, f"/v1/batches/{created['id']}")
    finally:
        await client.close()

    assert failed["status"] == "failed"
    [error] = failed["errors"]["data"]
    assert error["code"] == "too_many_tasks"
    assert error["line"] is None


async def test_every_nth_request_errors_and_a_missing_model_404s(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, batch_request_error_every=2), clock)
    try:
        ok = await create(client, jsonl([line(f"r{i}") for i in range(1, 6)]))
        gone = await create(client, jsonl([line("g1", model="missing-gpt")]))
        clock.now += 5
        done = await get_json(client, f"/v1/batches/{ok['id']}")
        errors = await file_lines(client, done["error_file_id"])
        gone_done = await get_json(client, f"/v1/batches/{gone['id']}")
        [gone_error] = await file_lines(client, gone_done["error_file_id"])
    finally:
        await client.close()

    assert done["request_counts"] == {"total": 5, "completed": 3, "failed": 2}
    assert [e["custom_id"] for e in errors] == ["r2", "r4"]
    body = errors[0]["response"]["body"]["error"]
    assert errors[0]["response"]["status_code"] == 400
    assert body["message"] == "simulated provider error for this request"
    assert body["type"] == "invalid_request_error"
    assert gone_done["output_file_id"] is None
    assert gone_error["response"]["status_code"] == 404
    assert gone_error["response"]["body"]["error"]["code"] == "model_not_found"


async def test_list_is_newest_first_and_pages_with_after(sim: Client) -> None:
    ids = [(await create(sim, jsonl([line("r")])))["id"] for _ in range(3)]

    first = await get_json(sim, "/v1/batches?limit=2")
    rest = await get_json(sim, f"/v1/batches?limit=2&after={first['last_id']}")

    assert first["object"] == "list"
    assert [b["id"] for b in first["data"]] == [ids[2], ids[1]]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[2], ids[1], True)
    assert [b["id"] for b in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False


async def test_batch_routes_need_the_key_and_azure_v1_takes_api_key(clock: Clock) -> None:
    client = await sim_client(SimConfig(latency_ms=0, api_key="sk-batch"), clock)
    try:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"{}", filename="x.jsonl")
        async with client.post("/v1/files", data=form) as response:
            unauthorized = response.status, (await response.json())["error"]["type"]
        async with client.get("/v1/batches") as response:
            list_unauthorized = response.status
        bearer = {"Authorization": "Bearer sk-batch"}
        openai_batch = await create(client, jsonl([line("r")]), headers=bearer)
        azure = {"api-key": "sk-batch"}
        azure_batch = await create(
            client,
            jsonl([line("r", url="/chat/completions")]),
            prefix="/openai/v1",
            endpoint="/chat/completions",
            headers=azure,
        )
        clock.now += 5
        azure_done = await get_json(client, f"/openai/v1/batches/{azure_batch['id']}", azure)
    finally:
        await client.close()

    assert unauthorized == (401, "invalid_request_error")
    assert list_unauthorized == 401
    assert openai_batch["status"] == "validating"
    assert azure_done["status"] == "completed"
    assert azure_done["request_counts"] == {"total": 1, "completed": 1, "failed": 0}


async def test_create_refuses_an_unknown_file_or_endpoint(sim: Client) -> None:
    file = await upload(sim, jsonl([line("r")]))
    bodies = [
        {
            "input_file_id": "file-nope",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
        {"input_file_id": file["id"], "endpoint": "/v1/responses", "completion_window": "24h"},
        {
            "input_file_id": file["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "1h",
        },
    ]
    params = []
    for body in bodies:
        async with sim.post("/v1/batches", json=body) as response:
            assert response.status == 400
            params.append((await response.json())["error"]["param"])
    described = await get_json(sim, f"/v1/files/{file['id']}")

    assert params == ["input_file_id", "endpoint", "completion_window"]
    assert described["object"] == "file"
    assert described["purpose"] == "batch"
    assert described["bytes"] == len(jsonl([line("r")]))
    assert described["filename"] == "input.jsonl"


async def test_stats_reset_clears_the_batch_counters_not_the_batches(sim: Client) -> None:
    created = await create(sim, jsonl([line("r1"), line("r2")]))
    before = await stats(sim)
    async with sim.post("/stats/reset") as response:
        assert response.status == 200
    after = await stats(sim)
    listing = await get_json(sim, "/sim/batches")

    assert (before.files_uploaded, before.batches_created, before.batch_requests) == (1, 1, 2)
    assert (after.files_uploaded, after.batches_created, after.batch_requests) == (0, 0, 0)
    assert after.batches_cancelled == 0
    assert [b["id"] for b in listing["data"]] == [created["id"]]
    assert listing["data"][0]["status"] == "validating"
