"""Conditional GETs of a run's state: ``GET /ai-judging-runs/{id}`` and
``GET /evaluations/runs/{id}/ai-judging-runs`` answer with an ETag, 304 when the client's
If-None-Match names it, and a new ETag with a body once the run has moved on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from releval_judge.client.api import ApiClient
from tests.support.api import create_evaluation, create_judge, start_run
from tests.support.fakes import FakeProvider
from tests.support.service import TOKEN, Service
from tests.support.waiting import wait_for


@pytest.fixture
async def running(
    service: Service, stepped_provider: tuple[FakeProvider, asyncio.Semaphore]
) -> AsyncIterator[dict[str, Any]]:
    """A run of 9 candidates, batch 3, whose provider answers when the test says."""
    evaluation = await create_evaluation(service, queries=3, per_query=3)
    judge = await create_judge(service, stepped_provider[0].base_url, batch_size=3, concurrency=1)
    run = await start_run(service, evaluation["id"], judge["id"])
    yield run
    await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")


async def get(service: Service, path: str, etag: str | None = None) -> tuple[int, str, bytes]:
    headers = {"If-None-Match": etag} if etag is not None else {}
    async with service.client.get(service.api + path, headers=headers) as resp:
        return resp.status, resp.headers.get("ETag", ""), await resp.read()


@pytest.mark.parametrize("which", ["run", "list"])
async def test_an_unchanged_run_answers_304_and_a_changed_one_a_new_etag(
    service: Service,
    stepped_provider: tuple[FakeProvider, asyncio.Semaphore],
    running: dict[str, Any],
    which: str,
) -> None:
    path = (
        f"/ai-judging-runs/{running['id']}"
        if which == "run"
        else f"/evaluations/runs/{running['evaluation_run_id']}/ai-judging-runs"
    )

    async def started() -> bool:
        status, body = await service.request("GET", f"/ai-judging-runs/{running['id']}")
        return bool(status == 200 and body["status"] == "running")

    await wait_for(started, timeout=10)
    status, etag, body = await get(service, path)
    assert status == 200 and etag.startswith('"') and body

    status, again, empty = await get(service, path, etag)
    assert (status, again, empty) == (304, etag, b"")
    # Weak form and a list with it both match (RFC 9110's weak comparison).
    assert (await get(service, path, f'"other", W/{etag}'))[0] == 304
    assert (await get(service, path, '"other"'))[0] == 200

    stepped_provider[1].release()  # one batch of 3 is judged

    async def moved_on() -> bool:
        status, _, _ = await get(service, path, etag)
        return status == 200

    await wait_for(moved_on, timeout=10)
    status, new_etag, body = await get(service, path, etag)
    assert status == 200 and new_etag != etag
    assert b'"judged":3' in body
    assert (await get(service, path, new_etag))[0] == 304


async def test_unknown_runs_are_still_404s_and_an_empty_list_a_200(service: Service) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    status, etag, _ = await get(service, f"/ai-judging-runs/{unknown}", '"x"')
    assert status == 404 and etag == ""
    # The list reads the evaluation run only when its page is empty (one query otherwise).
    status, _, body = await get(service, f"/evaluations/runs/{unknown}/ai-judging-runs")
    assert status == 404 and b"not_found" in body
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    status, etag, body = await get(service, f"/evaluations/runs/{evaluation['id']}/ai-judging-runs")
    assert status == 200 and etag and json.loads(body) == {"items": [], "next_cursor": None}


async def test_the_clients_watch_polls_with_the_etag_and_is_answered_304s(
    service: Service,
    stepped_provider: tuple[FakeProvider, asyncio.Semaphore],
    running: dict[str, Any],
) -> None:
    """``ApiClient.watch`` sends the last ETag: while the run does not move, each poll is a
    304 with no body; it still follows the run to its end."""
    statuses: list[int] = []

    async def on_request_end(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.url.path.endswith(running["id"]):
            statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    seen: list[tuple[str, int]] = []
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        ApiClient(service.base_url, TOKEN, session=session) as api,
    ):

        async def release_when_polled_unchanged() -> None:
            async def unchanged() -> bool:
                return statuses.count(304) >= 3

            await wait_for(unchanged, timeout=10)
            for _ in range(3):  # the run's three batches
                stepped_provider[1].release()

        releasing = asyncio.create_task(release_when_polled_unchanged())
        final = await api.watch(
            running["id"],
            lambda run: seen.append((run.status, run.judged)),
            min_interval_s=0.01,
            max_interval_s=0.05,
        )
        await releasing
    assert (final.status, final.judged) == ("completed", 9)
    assert statuses[0] == 200 and statuses.count(304) >= 3
    assert seen[-1] == ("completed", 9)
