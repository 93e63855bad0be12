"""Judging runs as the crash, replica and key tests drive them through a service's API: an
evaluation run of numbered candidates (titled ``cand-N``, so that a provider can count what
it was sent), a run started on a provider, a provider that holds its calls on demand, and
the invariants a run keeps through any crash."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import asyncpg
from aiohttp import web

from tests.support.api import ApiClient, start_run
from tests.support.fakes import FakeProvider, blocks, completion, document_ids
from tests.support.waiting import wait_for

TITLE = re.compile(r"Title: (cand-\d+)")
# Short leases so that a dead replica's run is taken over within the test.
FAST_LEASES = {"RELEVAL_LEASE_TTL_S": "2", "RELEVAL_CLAIM_INTERVAL_S": "0.2"}
# The batch size and concurrency of the judge `start_judging` makes unless told otherwise.
BATCH, CONCURRENCY = 2, 3


def evaluation(candidates: int, per_query: int) -> dict[str, Any]:
    return {
        "name": "crash",
        "scale": {"min": 0, "max": 3},
        "queries": [
            {
                "query_id": f"q{q:03}",
                "text": f"query {q}",
                "candidates": [
                    {
                        "doc_id": f"d{n}",
                        "rank": n % per_query + 1,
                        "title": f"cand-{n}",
                        "text": "some text",
                    }
                    for n in range(q * per_query, (q + 1) * per_query)
                ],
            }
            for q in range(candidates // per_query)
        ],
    }


async def start_judging(
    service: ApiClient,
    provider: FakeProvider,
    candidates: int,
    *,
    per_query: int = 10,
    **judge_fields: Any,
) -> dict[str, Any]:
    """An evaluation run of ``candidates`` numbered candidates, a judge on ``provider`` (of
    batch size BATCH and concurrency CONCURRENCY, unless ``judge_fields`` say otherwise)
    and a judging run of it on them, with reuse "none" (every test's candidates are the same
    questions: a run must call for each, not take another run's grades): the queued run
    (each 201 asserted)."""
    status, created = await service.request(
        "POST", "/evaluations/runs", json=evaluation(candidates, per_query)
    )
    assert status == 201, created
    fields = {
        "name": "replica judge",
        "provider": "openai",
        "model": "m",
        "base_url": provider.base_url,
        "batch_size": BATCH,
        "concurrency": CONCURRENCY,
        **judge_fields,
    }
    status, judge = await service.request("POST", "/ai-judges", json=fields)
    assert status == 201, judge
    return await start_run(service, created["id"], judge["id"], reuse="none")


async def check_invariants(db: asyncpg.Pool | asyncpg.Connection, run_id: str) -> asyncpg.Record:
    row = await db.fetchrow(
        """SELECT r.status, r.total, r.judged, r.failed,
                  (SELECT count(*) FROM ai_run_judgments j WHERE j.ai_judging_run_id = r.id)
                      AS judged_rows,
                  (SELECT count(*) FROM candidate_failures f WHERE f.ai_judging_run_id = r.id)
                      AS failed_rows
           FROM ai_judging_runs r WHERE r.id = $1::uuid""",
        run_id,
    )
    assert row is not None
    assert row["judged"] == row["judged_rows"], "counter ahead of or behind the rows"
    assert row["failed"] == row["failed_rows"], "counter ahead of or behind the rows"
    duplicates = await db.fetchval(
        """SELECT count(*) FROM (SELECT candidate_id FROM ai_judgments
           GROUP BY candidate_id HAVING count(*) > 1) d"""
    )
    assert duplicates == 0
    return row


class HeldProvider:
    """A fake provider (``fake``) that answers after ``delay``, or holds every call while
    ``hold`` is set, until ``release()``; counts the candidates it was sent by title."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.sent: Counter[str] = Counter()
        self.hold = asyncio.Event()
        self.released = asyncio.Event()
        self.waiting = 0  # calls held now
        self.fake = FakeProvider(respond=self.respond)

    async def respond(self, prompt: str, call_no: int) -> web.Response:
        for title in TITLE.findall(prompt):
            self.sent[title] += 1
        if self.hold.is_set():
            self.waiting += 1
            try:
                await self.released.wait()
            finally:
                self.waiting -= 1
        await asyncio.sleep(self.delay)
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    async def judging(self, calls: int) -> None:
        """Until the provider has been called ``calls`` times: the run is under way."""

        async def called() -> bool:
            return len(self.fake.calls) >= calls

        await wait_for(called)

    async def all_slots_held(self) -> None:
        """Until every call slot of the run is taken by a held call: its dispatcher waits."""

        async def held() -> bool:
            return self.waiting == CONCURRENCY

        await wait_for(held)

    def release(self) -> None:
        self.hold.clear()
        self.released.set()

    async def start(self) -> HeldProvider:
        await self.fake.start()
        return self

    async def stop(self) -> None:
        """Held calls are answered first, as a test that ends releases what it held."""
        self.release()
        await self.fake.stop()
