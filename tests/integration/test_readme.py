"""The README's curl walk-through (the seed's start, poll and cancel calls) works as written,
from a bare shell, against the simulator and a service started as the README starts them."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from releval_judge.sim import SimConfig, build_app
from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_as_documented, walk, walkthrough


@pytest.mark.usefixtures("no_active_runs")
async def test_readme_curl_walkthrough(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(REPO / "README.md", "A judging run with curl", 5)
    assert page.simulator and page.service_env is not None
    key = page.service_env["OPENAI_API_KEY"]
    # The slow simulator the README suggests for seeing a cancel; it requires the key the
    # README exports for the service, so that a run reaching it proves the key went along.
    # Served with a short shutdown: the call it holds is dropped when the test ends.
    sim = await local_servers.serve(build_app(SimConfig(latency_ms=30_000, api_key=key)))
    served = await serve_as_documented(page, processes, tmp_path, f"127.0.0.1:{sim}")
    steps = list(page.steps)
    # The cancel waits until the run's first call is at the simulator (a test's addition:
    # only a wait), so that the call is there to cancel however long the claim takes.
    steps[-1] = (
        "until curl -sf http://127.0.0.1:8090/stats | jq -e '.in_flight > 0' >/dev/null;"
        " do sleep 0.05; done\n" + steps[-1]
    )
    outputs = await walk(steps, served, tmp_path, timeout=120)

    started, listed, cancelled = outputs[2], outputs[3], outputs[4]
    assert '"status":"queued"' in started
    assert '"ai_judging_runs"' not in listed and '"items":[{' in listed
    assert '"status":"cancelled"' in cancelled
    assert '"created_by":"static","cancelled_by":"static"' in cancelled
    assert '"error":null' in cancelled  # not "api_key_env … is not set", not a 401
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{sim}/stats") as resp,
    ):
        stats = await resp.json()
    assert stats["in_flight"] >= 1 and "401" not in stats["responses_by_status"]
    # The token the walkthrough read is the one `make run` made and named at start-up.
    assert "kept in .releval/dev-token:" in served.process.logs()
