"""A judging run from start to completed, over real HTTP, on a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.api import create_evaluation, create_judge, wait_until_ended
from tests.support.fakes import FakeProvider, FakeProviders
from tests.support.service import Service


@pytest.fixture
async def provider(fake_provider: FakeProviders) -> FakeProvider:
    return await fake_provider()


async def test_run_judges_every_candidate_and_reports_progress(
    service: Service, provider: FakeProvider, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=3, per_query=4)
    judge = await create_judge(service, provider.base_url, batch_size=3, concurrency=2)

    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge",
        json={"ai_judge_id": judge["id"]},
    )
    assert status == 201, run
    assert run["status"] == "queued"
    assert run["total"] == 12
    assert run["ai_judge_name"] == "test judge"
    assert run["evaluation_run_id"] == evaluation["id"]

    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "completed"
    assert final["judged"] == 12
    assert final["failed"] == 0
    assert final["judged"] + final["failed"] == final["total"]
    assert final["progress"] == 1.0
    assert final["partially_judged"] is False
    assert final["error"] is None
    assert final["started_at"] is not None and final["finished_at"] is not None
    # 3 queries of 4 at batch 3: batches of 3+1 per query, never mixing queries.
    assert len(provider.calls) == 6
    assert final["input_tokens"] == 600
    assert final["output_tokens"] == 120
    assert provider.peak <= 2
    for call in provider.calls:
        assert call.headers["Authorization"] == "Bearer sk-test-key"

    status, page = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments", params={"limit": "100"}
    )
    assert status == 200
    assert len(page["items"]) == 12
    item = page["items"][0]
    assert item["source"] == "ai"
    assert item["judge"] == "test judge"
    assert item["grade"] == 2
    assert item["reasoning"].startswith("because")
    assert item["ai_judging_run_id"] == run["id"]

    status, listing = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert status == 200
    assert [r["id"] for r in listing["items"]] == [run["id"]]
    counted = await db.fetchval(
        "SELECT count(*) FROM ai_run_judgments WHERE ai_judging_run_id = $1::uuid", run["id"]
    )
    assert counted == final["judged"]
