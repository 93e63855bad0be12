"""docs/metrics.md's "Comparing two rankers" walkthrough works as written, with curl and jq,
from a bare shell, against the simulator (its lexical grades) and a service started as the
page starts them."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_with_simulator, walk, walkthrough


@pytest.mark.usefixtures("no_active_runs")
async def test_the_comparison_walkthrough_runs_as_written(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(REPO / "docs" / "metrics.md", "Comparing two rankers", 7)
    served, sim = await serve_with_simulator(page, processes, local_servers, tmp_path)
    parts = await walk(page.steps, served, tmp_path, timeout=120)
    _, _, judged, _, metrics, compared, estimated = (p.strip() for p in parts)

    assert [json.loads(line) for line in judged.splitlines()] == [
        {"status": "completed", "judged": 12, "failed": 0}
    ] * 2

    dense, bm25 = (json.loads(line) for line in metrics.splitlines())
    assert list(dense) == ["ndcg@3", "p@3", "ap", "rr", "judged@3"]
    # The dense ranker's lists are in the ideal order, under AI and under human grades.
    assert dense["ndcg@3"] == pytest.approx(1.0) and dense["rr"] == pytest.approx(1.0)
    assert dense["judged@3"] == 1.0
    assert (bm25["source"], bm25["relevant_min_grade"]) == ("ai", 2)
    assert [q["query_id"] for q in bm25["queries"]] == ["q1", "q2", "q3"]
    # The figures the page shows for this answer are the simulator's.
    assert bm25["measures"] == {
        "ndcg@3": pytest.approx(0.709, abs=5e-4),
        "ap": pytest.approx(0.778, abs=5e-4),
    }
    assert bm25["queries"][0] == {
        "query_id": "q1",
        "ndcg@3": pytest.approx(0.553, abs=5e-4),
        "ap": pytest.approx(0.417, abs=5e-4),
    }

    comparison = json.loads(compared)
    assert comparison["shared_queries"] == 3
    assert [r["name"] for r in comparison["runs"]] == ["bm25 ranker", "dense ranker"]
    ndcg_difference, ap_difference = comparison["differences"]
    assert ndcg_difference["measure"] == "ndcg@3" and ndcg_difference["difference"] > 0.2
    # Better on all three queries: the smallest p-value three queries allow, 2/8.
    assert ndcg_difference["p_value"] == pytest.approx(0.25, abs=0.02)
    # AP: better on two queries, the same on the third (as the page says).
    assert ap_difference["measure"] == "ap" and ap_difference["difference"] > 0.1
    assert ap_difference["p_value"] == pytest.approx(0.5, abs=0.02)
    assert [c["kendall_tau"] for c in comparison["rank_correlation"]] == [1.0, 1.0]

    estimates = json.loads(estimated)
    assert (estimates["queries"], estimates["sample_queries"]) == (3, 2)
    ndcg = estimates["estimates"][0]
    assert ndcg["measure"] == "ndcg@3"
    # alice is one grade stricter: the correction lowers the AI judge's estimate.
    assert ndcg["prediction_powered"]["estimate"] < ndcg["ai_only"]
    assert ndcg["ai_only"] == pytest.approx(bm25["measures"]["ndcg@3"])
    assert any("below 30" in w for w in estimates["warnings"])
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{sim}/stats") as resp,
    ):
        # One batch per query for bm25; the dense ranker's documents are bm25's (the same
        # queries, the same texts): its run reuses every judgment and calls nothing.
        assert (await resp.json())["calls"] == 3
