"""A provider API key never appears in a response, a log line or an error message."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web

from tests.support.fakes import FakeProviders, error
from tests.support.process import ServiceProcesses
from tests.support.runs import evaluation
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

KEY = "sk-live-9f8e7d6c5b4a-very-secret"


async def test_the_key_is_nowhere_after_a_failing_run(
    db: asyncpg.Pool, processes: ServiceProcesses, fake_provider: FakeProviders
) -> None:
    async def echo_key_back(prompt: str, call_no: int) -> web.Response:
        # Providers quote (part of) the key in 401 messages; a careless one quotes it whole.
        sent = provider.calls[-1].headers["Authorization"].removeprefix("Bearer ")
        return error(401, f"Incorrect API key provided: {sent}. Find your key at ...")

    provider = await fake_provider(echo_key_back)
    service = processes.new()
    bodies: list[str] = []
    await service.start()
    _, created = await service.request("POST", "/evaluations/runs", json=evaluation(10, 5))
    status, judge = await service.request(
        "POST",
        "/ai-judges",
        json={
            "name": "leaky",
            "provider": "openai",
            "model": "m",
            "base_url": provider.base_url,
            "api_key": KEY,
        },
    )
    assert status == 201
    bodies.append(str(judge))
    _, run = await service.request(
        "POST",
        f"/evaluations/runs/{created['id']}/ai-judge",
        json={"ai_judge_id": judge["id"]},
    )

    async def failed() -> bool:
        _, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
        return bool(body["status"] == "failed")

    await wait_for(failed)
    for path in [
        f"/ai-judging-runs/{run['id']}",
        f"/ai-judging-runs/{run['id']}/failures",
        f"/evaluations/runs/{created['id']}/ai-judging-runs",
        f"/ai-judges/{judge['id']}",
        "/ai-judges",
    ]:
        _, body = await service.request("GET", path)
        bodies.append(str(body))
    status, patched = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"api_key": KEY + "-rotated"}
    )
    bodies.append(str(patched))
    # Refused input is not echoed either (a 422's details included).
    for refused in ({"api_key": KEY + "\u0000"}, {"apikey": KEY}):
        status, body = await service.request("PATCH", f"/ai-judges/{judge['id']}", json=refused)
        assert status == 422, body
        bodies.append(str(body))
    status, body = await service.request(
        "POST",
        f"/ai-judges/{judge['id']}/test",
        json={"query": "q", "candidates": [{"text": "t"}]},
    )
    assert status == 502, body
    bodies.append(str(body))
    assert provider.calls[0].headers["Authorization"] == f"Bearer {KEY}"  # it was used
    logs = service.logs()
    assert "authentication failed" in logs  # the failure was logged...
    assert KEY not in logs  # ...without the key
    assert "[redacted]" in bodies[1]  # the run's error says what happened, key redacted
    for body in bodies:
        assert KEY not in body
        assert any(word in body for word in ("api_key_set", "status", "items", "error"))
    stored = await db.fetchval(
        "SELECT api_key_encrypted FROM ai_judges WHERE id = $1::uuid", judge["id"]
    )
    assert stored and KEY not in stored
