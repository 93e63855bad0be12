"""Audits' test helpers: a completed run to audit, an audit waited for to its end."""

from __future__ import annotations

from typing import Any

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.service import Service
from tests.support.waiting import wait_for

Api = Service

_TEXTS = (
    "an unrelated page about gardening tools and weather",
    "query number {q}: the number {q} explained in full, query answered",
    "a note that mentions number {q} once",
    "query pages and other things",
)


def texts(q: int, r: int) -> str:
    """Documents whose lexical grades spread over the scale, so that agreement has room."""
    return _TEXTS[(q + r) % len(_TEXTS)].format(q=q)


async def judged_run(
    service: Api,
    base_url: str,
    *,
    model: str,
    queries: int = 10,
    per_query: int = 10,
    **judge_fields: Any,
) -> dict[str, Any]:
    """A completed judging run by a judge of ``model`` (batches of 5, one call at a time so
    that a seeded simulator answers the same way every time), reuse off."""
    judge = await create_judge(
        service, base_url, model=model, batch_size=5, concurrency=1, **judge_fields
    )
    evaluation = await create_evaluation(service, queries=queries, per_query=per_query, texts=texts)
    # Every call made here: the same documents judged by an earlier test are not reused.
    run = await start_run(service, evaluation["id"], judge["id"], reuse="none")
    end = await wait_until_ended(service, run["id"])
    assert (end["status"], end["judged"]) == ("completed", queries * per_query), end
    return end


async def audit_of(service: Api, run_id: str, **body: Any) -> dict[str, Any]:
    """Start an audit of the run (201 asserted) and return it once ended."""
    status, created = await service.request(
        "POST", f"/ai-judging-runs/{run_id}/audits", json={"sample_size": 100, **body}
    )
    assert status == 201, created
    assert created["status"] == "queued"
    result: dict[str, Any] = {}

    async def ended() -> bool:
        status, audit = await service.request("GET", f"/audits/{created['id']}")
        assert status == 200, audit
        result.update(audit)
        return audit["status"] not in ("queued", "running")

    await wait_for(ended, timeout=60.0)
    return result
