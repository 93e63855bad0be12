"""Per-candidate failures: counted, recorded with a reason and a raw excerpt, the run goes on."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.support.api import create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, FakeProviders, blocks, completion, document_ids, error
from tests.support.service import Service

QUERIES = {
    "good answer": None,
    "json answer": "no <candidate> blocks in the answer (got JSON instead?)",
    "markdown answer": "no <candidate> blocks in the answer (got Markdown instead?)",
    "missing candidate": "candidate missing from the answer",
    "word grade": "grade 'high' is not an integer",
    "out of scale": "grade 5 outside scale 0–4",
    "rejected batch": "context length exceeded",
}


async def answer(prompt: str, call_no: int) -> web.Response:
    ids = document_ids(prompt)
    if "json answer" in prompt:
        return completion('{"grades": [{"id": "1", "grade": 2}]}')
    if "markdown answer" in prompt:
        return completion("| id | grade |\n|---|---|\n| 1 | 2 |")
    if "missing candidate" in prompt:
        return completion(blocks({cid: 1 for cid in ids[:-1]}))
    if "word grade" in prompt:
        return completion(blocks({ids[0]: "high"} | {cid: 3 for cid in ids[1:]}))
    if "out of scale" in prompt:
        return completion(blocks({ids[0]: 5} | {cid: 4 for cid in ids[1:]}))
    if "rejected batch" in prompt:
        return error(400, "This model's maximum context length exceeded: context length exceeded")
    return completion(blocks({cid: 2 for cid in ids}))


@pytest.fixture
async def provider(fake_provider: FakeProviders) -> FakeProvider:
    return await fake_provider(answer)


def body() -> dict[str, Any]:
    return {
        "name": "failures",
        "scale": {"min": 0, "max": 4},
        "queries": [
            {
                "query_id": f"q{i}",
                "text": text,
                "candidates": [
                    {"doc_id": f"{i}-{r}", "rank": r, "text": f"doc {r}"} for r in (1, 2, 3)
                ],
            }
            for i, text in enumerate(QUERIES)
        ],
    }


async def test_each_failure_kind_is_recorded_and_the_run_completes(
    service: Service, provider: FakeProvider, db: asyncpg.Pool
) -> None:
    status, evaluation = await service.request("POST", "/evaluations/runs", json=body())
    assert status == 201
    judge = await create_judge(service, provider.base_url, batch_size=3, concurrency=3)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])

    assert final["status"] == "completed"
    assert final["total"] == 21
    # good: 3 judged; json, markdown, rejected: 3 failed each; missing: 2 judged + 1 failed;
    # word grade and out of scale: 2 judged + 1 failed each.
    assert final["judged"] == 3 + 2 + 2 + 2
    assert final["failed"] == 3 + 3 + 3 + 1 + 1 + 1
    assert final["judged"] + final["failed"] == final["total"]

    status, page = await service.request(
        "GET", f"/ai-judging-runs/{run['id']}/failures", params={"limit": "100"}
    )
    assert status == 200
    failures = page["items"]
    assert len(failures) == final["failed"]
    assert set(failures[0]) == {
        "candidate_id",
        "query_id",
        "doc_id",
        "rank",
        "reason",
        "raw_excerpt",
        "created_at",
    }
    by_query: dict[str, list[dict[str, Any]]] = {}
    for item in failures:
        by_query.setdefault(item["query_id"], []).append(item)
    for index, (text, reason) in enumerate(QUERIES.items()):
        items = by_query.get(f"q{index}", [])
        if reason is None:
            assert items == []
            continue
        assert items, text
        for item in items:
            assert reason in item["reason"], (text, item["reason"])
    missing = by_query["q3"]
    assert [f["rank"] for f in missing] == [3]
    assert "fewer candidates than were sent" in missing[0]["reason"]
    assert "<candidate" in missing[0]["raw_excerpt"]
    assert '"grades"' in by_query["q1"][0]["raw_excerpt"]
    assert [f["rank"] for f in by_query["q4"]] == [1]
    assert [f["rank"] for f in by_query["q5"]] == [1]

    # No judgment is written for a failed candidate.
    failed_ids = [f["candidate_id"] for f in failures]
    written = await db.fetchval(
        "SELECT count(*) FROM ai_judgments WHERE candidate_id = ANY($1::uuid[])", failed_ids
    )
    assert written == 0
    status, judgments = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments", params={"limit": "100"}
    )
    assert len(judgments["items"]) == final["judged"]


async def test_failures_of_unknown_run_is_404(service: Service) -> None:
    status, body = await service.request(
        "GET", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/failures"
    )
    assert status == 404
    assert body["error"]["code"] == "not_found"
