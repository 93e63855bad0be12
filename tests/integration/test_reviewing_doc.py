"""docs/reviewing.md's "Reviewing a run" walkthrough works as written, with curl and jq,
from a bare shell, against the simulator and a service started as the page starts them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_with_simulator, walk, walkthrough


@pytest.mark.usefixtures("no_active_runs")
async def test_the_reviewing_walkthrough_runs_as_written(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(REPO / "docs" / "reviewing.md", "Reviewing a run", 10)
    served, sim = await serve_with_simulator(page, processes, local_servers, tmp_path)
    blocks = await walk(page.steps, served, tmp_path, timeout=120)
    patched, tried, estimated, ran, human, agreement, views, gaps = blocks[1:9]
    assert json.loads(patched)["fields"] == ["brand", "category"]
    inline, sampled = (json.loads(part) for part in re.split(r"(?<=\})\n(?=\{)", tried.strip()))
    assert (inline["judged"], inline["failed"]) == (2, 0)
    assert sampled["seed"] == 7 and sampled["judged"] == 6
    assert "Query: " in sampled["prompt"]
    assert json.loads(estimated)["candidates"] == 6
    assert json.loads(ran.strip().splitlines()[-1]) == {
        "status": "completed",
        "scope": "all",
        "judged": 6,
        "failed": 0,
        # The simulator's tokens (characters / 4: 428 in, 198 out) at step 1's prices.
        "cost": {"input": 0.000064, "cached_input": 0, "output": 0.000119, "total": 0.000183},
    }
    assert '"judge":"alice"' in human and '"grade":2' in human
    assert '"action":"put","by":"static"' in human  # its history
    assert json.loads(agreement)["pairs"] == 1
    assert views.count('"items":') == 3
    assert '"scope":"failed"' in gaps and '"total":0' in gaps
    assert (tmp_path / "ai.qrels").read_text().splitlines()[0] == "q1 0 B-100 3"
    assert (tmp_path / "alice.qrels").read_text().count("\n") == 1
    assert (tmp_path / "judgments.csv").read_text().startswith("candidate_id,query_id,")
    assert len((tmp_path / "first-run.jsonl").read_text().splitlines()) == 6
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{sim}/stats") as resp,
    ):
        assert (await resp.json())["calls"] > 0
