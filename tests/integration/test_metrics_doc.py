"""docs/metrics.md's "Comparing two rankers" walkthrough works as written, with curl and jq."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.api import create_judge
from tests.support.fakes import FakeProviders, blocks, completion
from tests.support.reviewing import query_of
from tests.support.service import REPO, ServiceFactory
from tests.support.walkthrough import shell_blocks, walk

DOCUMENT = re.compile(r'<document id="(\d+)">\nTitle: (.*)\n')

# The AI judge's grade of each (query, title): the dense ranker's order is the ideal one.
GRADES = {
    "wireless headphones": {
        "Noise-cancelling wireless headphones": 3,
        "Bluetooth earbuds": 2,
        "Wired studio headphones": 1,
    },
    "usb-c cable": {
        "USB-C to USB-C cable, 2 m": 3,
        "USB-C to USB-A cable": 2,
        "USB-C wall charger": 1,
    },
    "running shoes": {"Trail running shoes": 3, "Road running shoes": 2, "Running socks": 1},
}


async def grade_by_title(prompt: str, call_no: int) -> web.Response:
    grades = GRADES[query_of(prompt)]
    return completion(
        blocks({cid: grades.get(title, 0) for cid, title in DOCUMENT.findall(prompt)})
    )


async def test_the_comparison_walkthrough_runs_as_written(
    services: ServiceFactory, tmp_path: Path, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(grade_by_title)
    service = await services.start()
    judge = await create_judge(service, provider.base_url, name="doc judge", batch_size=4)
    parts = await walk(
        shell_blocks(REPO / "docs" / "metrics.md", "Comparing two rankers", 7),
        service,
        tmp_path,
        {"AI_JUDGE_ID": judge["id"]},
        timeout=120,
    )
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
    assert bm25["measures"]["ndcg@3"] < 0.5

    comparison = json.loads(compared)
    assert comparison["shared_queries"] == 3
    assert [r["name"] for r in comparison["runs"]] == ["bm25 ranker", "dense ranker"]
    for difference in comparison["differences"]:
        assert difference["difference"] > 0.3
        # Better on all three queries: the smallest p-value three queries allow, 2/8.
        assert difference["p_value"] == pytest.approx(0.25, abs=0.02)
    assert [c["kendall_tau"] for c in comparison["rank_correlation"]] == [1.0, 1.0]

    estimates = json.loads(estimated)
    assert (estimates["queries"], estimates["sample_queries"]) == (3, 2)
    ndcg = estimates["estimates"][0]
    assert ndcg["measure"] == "ndcg@3"
    # alice is one grade stricter: the correction lowers the AI judge's estimate.
    assert ndcg["prediction_powered"]["estimate"] < ndcg["ai_only"]
    assert ndcg["ai_only"] == pytest.approx(bm25["measures"]["ndcg@3"])
    assert any("below 30" in w for w in estimates["warnings"])
    assert len(provider.calls) == 6
