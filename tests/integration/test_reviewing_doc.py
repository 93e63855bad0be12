"""docs/reviewing.md's "Reviewing a run" walkthrough works as written, with curl and jq."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.api import create_judge
from tests.support.fakes import FakeProviders
from tests.support.reviewing import grade_by_rank
from tests.support.service import REPO, ServiceFactory
from tests.support.walkthrough import shell_blocks, walk


async def test_the_reviewing_walkthrough_runs_as_written(
    services: ServiceFactory, tmp_path: Path, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(grade_by_rank)
    service = await services.start()
    example = json.loads((REPO / "examples" / "evaluation-run.json").read_text())
    status, evaluation = await service.request("POST", "/evaluations/runs", json=example)
    assert status == 201, evaluation
    judge = await create_judge(service, provider.base_url, name="doc judge", batch_size=3)
    blocks = await walk(
        shell_blocks(REPO / "docs" / "reviewing.md", "Reviewing a run", 10),
        service,
        tmp_path,
        {"RUN_ID": evaluation["id"], "AI_JUDGE_ID": judge["id"]},
    )
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
        "cost": {
            "input": 0.00003,
            "cached_input": 0,
            "output": 0.000024,
            "total": 0.000054,
        },  # 200 and 40 tokens
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
    assert provider.calls, "the walkthrough never reached the provider"
