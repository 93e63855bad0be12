"""Many event streams of one run share one reader on a replica: the database is read once
per tick for all of them (``releval_run_events_reads_total``), and each stream gets the
same events from the moment it joined."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette

from releval_judge.api import events
from releval_judge.services import Services
from tests.support.api import create_evaluation, create_judge, start_run
from tests.support.fakes import FakeProvider
from tests.support.service import Service
from tests.support.waiting import wait_for

STREAMS = 20
POLL_S = 0.05


def services_of(service: Service) -> Services:
    """The service layer of a service running in this event loop."""
    app = service.server.config.app
    assert isinstance(app, Starlette)
    found: Services = app.state.services
    return found


def open_streams(svc: Services) -> float:
    """The ``releval_run_event_streams`` gauge."""
    value = svc.metrics.registry.get_sample_value("releval_run_event_streams")
    assert value is not None
    return value


async def reader_reads(service: Service) -> float:
    async with service.client.get(service.base_url + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("releval_run_events_reads_total "):
                return float(line.split()[1])
    raise AssertionError("releval_run_events_reads_total is not on /metrics")


async def collect(response: aiohttp.ClientResponse, into: list[str]) -> None:
    """Every event of one stream as (event, data) text, until it closes."""
    event = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            into.append(f"{event} {line.removeprefix('data: ')}")


async def test_streams_of_one_run_share_one_reader_and_get_the_same_events(
    service: Service,
    stepped_provider: tuple[FakeProvider, asyncio.Semaphore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "POLL_S", POLL_S)
    evaluation = await create_evaluation(service, queries=3, per_query=3)
    judge = await create_judge(service, stepped_provider[0].base_url, batch_size=3, concurrency=1)
    run = await start_run(service, evaluation["id"], judge["id"])
    svc = services_of(service)
    seen: list[list[str]] = [[] for _ in range(STREAMS)]
    url = f"{service.api}/ai-judging-runs/{run['id']}/events"

    async with contextlib.AsyncExitStack() as stack:
        responses = [await stack.enter_async_context(service.client.get(url)) for _ in seen]
        assert all(r.status == 200 for r in responses)
        readers = [asyncio.create_task(collect(r, s)) for r, s in zip(responses, seen, strict=True)]

        async def all_streaming() -> bool:
            return all(s for s in seen)

        await wait_for(all_streaming, timeout=10)
        # One reader for the run, however many streams watch it.
        assert svc.run_events.readers == 1
        reads_before, began = await reader_reads(service), time.monotonic()
        for _ in range(3):  # the run's three batches, one at a time
            stepped_provider[1].release()
            await asyncio.sleep(POLL_S * 3)
        async with asyncio.timeout(20):  # stops a hung test; not a time assertion
            await asyncio.gather(*readers)
        reads = await reader_reads(service) - reads_before
        elapsed = time.monotonic() - began

    # The reader sleeps POLL_S before each read, so one reader reads at most once per
    # POLL_S; a read per stream per tick would be about STREAMS times that.
    assert 1 <= reads <= elapsed / POLL_S + 1, (reads, elapsed)
    # Every stream got the same events, from the run's first state to its end.
    # Every stream got the same events from the reading current when it joined (a stream
    # that joined after a reading starts at it): each is a tail of the longest.
    longest = max(seen, key=len)
    assert all(s and s == longest[len(longest) - len(s) :] for s in seen), [len(s) for s in seen]
    assert longest[-1].startswith("end ") and '"status":"completed"' in longest[-1]
    assert any('"judged":3,' in line for line in longest)

    async def reader_stopped() -> bool:
        return svc.run_events.readers == 0

    await wait_for(reader_stopped, timeout=5)


async def test_a_reader_stops_with_the_last_stream_of_a_running_run(
    service: Service, stepped_provider: tuple[FakeProvider, asyncio.Semaphore]
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=3)
    judge = await create_judge(service, stepped_provider[0].base_url, batch_size=3, concurrency=1)
    run: dict[str, Any] = await start_run(service, evaluation["id"], judge["id"])
    svc = services_of(service)
    url = f"{service.api}/ai-judging-runs/{run['id']}/events"
    async with service.client.get(url) as first, service.client.get(url) as second:
        assert (first.status, second.status) == (200, 200)
        await first.content.readline()
        await second.content.readline()
        assert svc.run_events.readers == 1
        first.connection.transport.close()  # type: ignore[union-attr]

        async def one_left() -> bool:
            return open_streams(svc) == 1

        await wait_for(one_left, timeout=5)
        assert svc.run_events.readers == 1
        second.connection.transport.close()  # type: ignore[union-attr]

    async def none_left() -> bool:
        return svc.run_events.readers == 0

    await wait_for(none_left, timeout=5)
    await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
