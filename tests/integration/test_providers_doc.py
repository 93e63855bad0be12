"""docs/providers.md's batch walkthrough against the simulator works as written, with curl
and jq, from a bare shell, against the simulator and a service started as the page starts
them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_with_simulator, walk, walkthrough


@pytest.mark.usefixtures("no_active_runs")
async def test_the_batch_walkthrough_runs_as_written(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(REPO / "docs" / "providers.md", "The simulator", 2)
    assert page.service_env is not None and page.service_env["RELEVAL_BATCH_POLL_S"] == "1"
    served, _ = await serve_with_simulator(page, processes, local_servers, tmp_path)
    created, ran = await walk(page.steps, served, tmp_path, timeout=120)
    assert created.strip() == ""  # the run and the judge are made silently
    estimate_line, run_line = ran.strip().splitlines()
    estimate = json.loads(estimate_line)
    assert (estimate["candidates"], estimate["delivery"]) == (6, "batch")
    assert estimate["batch"] == pytest.approx(estimate["live"] / 2, abs=1e-6)
    run = json.loads(run_line)
    assert (run["status"], run["judged"], run["failed"]) == ("completed", 6, 0)
    assert run["provider_batches"] == [{"status": "completed", "requests": 2, "results_read": True}]
    assert 0 < run["cost"] <= 0.01  # billed, within the run's max_cost
