"""Audits' test helpers: a completed run to audit, an audit waited for to its end."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, blocks, completion, document_ids
from tests.support.process import ServiceProcess
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


_TITLE = re.compile(r"Title: (title \d+-\d+)")


class CountingProvider:
    """A fake provider (``fake``) that grades every document 2 and records each call's
    batch (its documents' titles, in prompt order) once ``counting`` is set; after
    ``answer_only(n)`` it answers the next ``n`` calls and holds every later one (a call in
    flight when its caller dies) until ``answer_all()``."""

    def __init__(self) -> None:
        self.counting = False
        self.asked: list[tuple[str, ...]] = []
        self.answered: list[tuple[str, ...]] = []
        self._budget: int | None = None
        self._released = asyncio.Event()
        self.fake = FakeProvider(respond=self.respond)

    def answer_only(self, calls: int) -> None:
        self._budget = calls
        self._released.clear()

    def answer_all(self) -> None:
        self._budget = None
        self._released.set()

    async def start(self) -> CountingProvider:
        await self.fake.start()
        return self

    async def stop(self) -> None:
        """Held calls are answered first, as a test that ends releases what it held."""
        self.answer_all()
        await self.fake.stop()

    async def respond(self, prompt: str, call_no: int) -> web.Response:
        batch = tuple(_TITLE.findall(prompt))
        if self.counting:
            self.asked.append(batch)
        if self._budget is not None:
            if self._budget == 0:
                await self._released.wait()
            else:
                self._budget -= 1
        if self.counting:
            self.answered.append(batch)
        return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))


async def audit_state(service: Api | ServiceProcess, audit_id: str) -> dict[str, Any]:
    status, audit = await service.request("GET", f"/audits/{audit_id}")
    assert status == 200, audit
    result: dict[str, Any] = audit
    return result


async def audit_ended(
    service: Api | ServiceProcess, audit_id: str, *, timeout: float = 60.0
) -> dict[str, Any]:
    """The audit once it has ended (neither queued nor running)."""
    result: dict[str, Any] = {}

    async def ended() -> bool:
        result.update(await audit_state(service, audit_id))
        return result["status"] not in ("queued", "running")

    await wait_for(ended, timeout=timeout)
    return result
