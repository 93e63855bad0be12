"""Helpers shared by the review, export and calibration tests."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from tests.support.api import create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, blocks, completion, document_ids
from tests.support.service import Service

QUERY = re.compile(r"Query: (.*)\n")
# A judgment's fields in a listing and in an export, in their order (a run's listing and
# export add "current").
JUDGMENT_FIELDS = [
    "candidate_id",
    "query_id",
    "query",
    "doc_id",
    "rank",
    "grade",
    "label",
    "reasoning",
    "source",
    "judge",
    "ai_judging_run_id",
    "created_at",
]


def query_of(prompt: str) -> str:
    """The query text of a prompt rendered with the default template."""
    match = QUERY.search(prompt)
    assert match is not None, prompt
    return match.group(1)


async def grade_by_rank(prompt: str, call_no: int) -> web.Response:
    """Grade 3 for the first document of the batch, then 2, 1, 0, 0…"""
    return completion(
        blocks({cid: max(0, 4 - int(cid)) for cid in document_ids(prompt)}, "rank rule")
    )


async def candidate_ids(db: asyncpg.Pool, evaluation_id: str) -> dict[str, str]:
    """``doc_id`` → candidate id."""
    rows = await db.fetch(
        "SELECT id::text, doc_id FROM candidates WHERE evaluation_run_id = $1::uuid",
        evaluation_id,
    )
    return {r["doc_id"]: r["id"] for r in rows}


async def put_human(
    service: Service,
    evaluation_id: str,
    candidate_id: str,
    judge: str,
    grade: int,
    reasoning: str = "",
) -> tuple[int, Any]:
    return await service.request(
        "PUT",
        f"/evaluations/runs/{evaluation_id}/candidates/{candidate_id}/judgments/{judge}",
        json={"grade": grade, "reasoning": reasoning},
    )


async def judge_with(
    service: Service, provider: FakeProvider, evaluation_id: str, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a judge on ``provider``, run it on the evaluation run to its end."""
    judge = await create_judge(service, provider.base_url, **fields)
    run = await start_run(service, evaluation_id, judge["id"])
    final = await wait_until_ended(service, run["id"])
    return judge, final


async def start_scoped(
    service: Service, evaluation_id: str, judge_id: str, scope: str, *, reuse: str = "fingerprint"
) -> dict[str, Any]:
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation_id}/ai-judge",
        json={"ai_judge_id": judge_id, "scope": scope, "reuse": reuse},
    )
    assert status == 201, run
    result: dict[str, Any] = run
    return result


async def raw(service: Service, path: str, **params: Any) -> tuple[int, dict[str, str], bytes]:
    """GET a path below /api/v1 and return status, headers and the body as bytes."""
    async with service.client.get(
        service.api + path, params={k: str(v) for k, v in params.items()}
    ) as resp:
        return resp.status, dict(resp.headers), await resp.read()
