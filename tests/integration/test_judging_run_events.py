"""``GET /ai-judging-runs/{id}/events``: a judging run's progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web

from releval_judge.api import events
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProvider, FakeProviders, blocks, completion, document_ids
from tests.support.service import Service
from tests.support.waiting import wait_for


@dataclass
class Event:
    event: str | None
    data: str | None
    comment: str | None = None
    retry: int | None = None

    def run(self) -> dict[str, Any]:
        assert self.data is not None
        result: dict[str, Any] = json.loads(self.data)
        return result


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Parse a text/event-stream the way EventSource does (one message per blank line)."""
    fields: dict[str, str] = {}
    comment: str | None = None
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if fields or comment is not None:
                yield Event(
                    fields.get("event"),
                    fields.get("data"),
                    comment,
                    int(fields["retry"]) if "retry" in fields else None,
                )
            fields, comment = {}, None
        elif line.startswith(":"):
            comment = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@dataclass
class Gate:
    """A provider that holds every call until ``step()`` lets one through or ``open()``
    lets all of them through."""

    provider: FakeProvider
    steps: asyncio.Semaphore
    opened: asyncio.Event

    def step(self) -> None:
        self.steps.release()

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
async def gate(fake_provider: FakeProviders) -> AsyncIterator[Gate]:
    steps = asyncio.Semaphore(0)
    opened = asyncio.Event()

    async def respond(prompt: str, call_no: int) -> web.Response:
        if not opened.is_set():
            waiters = {asyncio.ensure_future(steps.acquire()), asyncio.ensure_future(opened.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))

    provider = await fake_provider(respond)
    yield Gate(provider, steps, opened)
    opened.set()


@pytest.fixture
async def held_run(service: Service, gate: Gate) -> AsyncIterator[dict[str, Any]]:
    """A queued run whose provider waits for the gate; cancelled at the end if still going,
    so that no later test's service resumes it."""
    evaluation = await create_evaluation(service, queries=3, per_query=3)
    judge = await create_judge(service, gate.provider.base_url, batch_size=3, concurrency=1)
    run = await start_run(service, evaluation["id"], judge["id"])
    yield run
    await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")


async def test_events_need_a_token_and_an_existing_run(service: Service) -> None:
    async with aiohttp.ClientSession() as anonymous:
        url = f"{service.api}/ai-judging-runs/00000000-0000-0000-0000-000000000000/events"
        async with anonymous.get(url) as response:
            assert_error(response.status, await response.json(), 401, "unauthorized")
    status, body = await service.request(
        "GET", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/events"
    )
    assert_error(status, body, 404, "not_found")


async def test_progress_streams_live_until_the_terminal_status(
    service: Service, gate: Gate, held_run: dict[str, Any]
) -> None:
    run = held_run
    seen: list[Event] = []
    async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Cache-Control"] == "no-cache"
        async with asyncio.timeout(20):
            async for event in read_events(resp):
                seen.append(event)
                if event.event == "progress" and event.run()["judged"] == 0:
                    gate.step()
                elif event.event == "progress" and 0 < event.run()["judged"] < 9:
                    gate.open()
        # The stream closed by itself after the terminal status.
        assert resp.content.at_eof()

    assert seen[0].retry == events.RETRY_MS
    progress = [e.run() for e in seen if e.event == "progress"]
    final = [e for e in seen if e.event == "end"]
    assert len(final) == 1 and seen[-1] is final[0]
    assert progress[0]["status"] in ("queued", "running")
    judged = [p["judged"] for p in progress]
    assert judged == sorted(judged) and 0 < max(judged) < 9, judged
    last = final[0].run()
    status, stored = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert status == 200 and last == stored
    assert last["status"] == "completed" and last["progress"] == 1.0
    assert {"judged", "failed", "input_tokens", "output_tokens", "progress", "status"} <= set(last)


async def test_an_ended_run_answers_its_final_state_at_once(
    service: Service, gate: Gate, held_run: dict[str, Any]
) -> None:
    gate.open()
    run = held_run
    ended = await wait_until_ended(service, run["id"])
    async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
        async with asyncio.timeout(5):
            got = [e async for e in read_events(resp)]
    assert [e.event for e in got] == [None, "end"]
    assert got[1].run() == ended


async def test_a_cancelled_run_ends_its_stream_with_the_calls_in_flight_counted(
    service: Service, gate: Gate, held_run: dict[str, Any], db: asyncpg.Pool
) -> None:
    """Calls in flight at a cancel still record their judgments: the stream sends them and
    ends once the replica has finished them and given the run's lease back (not when the
    lease lapses, 30 s later)."""
    run = held_run

    async def a_call_in_flight() -> bool:
        return gate.provider.in_flight == 1

    await wait_for(a_call_in_flight)
    status, cancelled = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["judged"] == 0
    seen: list[Event] = []
    async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
        gate.open()
        async with asyncio.timeout(20):
            seen = [e async for e in read_events(resp)]
    final = [e.run() for e in seen if e.event == "end"]
    assert len(final) == 1 and seen[-1].event == "end"
    assert final[0]["status"] == "cancelled" and final[0]["judged"] == 3  # the batch in flight
    held = await db.fetchval(
        "SELECT lease_expires_at > clock_timestamp() FROM ai_judging_runs WHERE id = $1::uuid",
        run["id"],
    )
    assert held is False


async def test_a_quiet_stream_sends_heartbeats(
    service: Service, held_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "HEARTBEAT_S", 0.3)
    monkeypatch.setattr(events, "POLL_S", 0.05)
    run = held_run
    heartbeat: Event | None = None
    async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
        async with asyncio.timeout(10):
            async for event in read_events(resp):
                if event.comment == "heartbeat":
                    heartbeat = event
                    break
    assert heartbeat is not None, "the stream ended without a heartbeat"


async def test_the_stream_stops_when_the_client_goes_away(
    service: Service, held_run: dict[str, Any]
) -> None:
    run = held_run
    with structlog.testing.capture_logs() as logs:
        async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
            async with asyncio.timeout(5):
                async for event in read_events(resp):
                    if event.event == "progress":
                        break
            resp.connection.transport.close()  # type: ignore[union-attr]

        async def closed() -> bool:
            return any(
                line["event"] == "judging_run_events_closed"
                and line["reason"] == "disconnected"
                and line["judging_run_id"] == run["id"]
                for line in logs
            )

        await wait_for(closed, timeout=5)


async def test_a_long_stream_is_closed_for_the_browser_to_reconnect(
    service: Service, held_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_STREAM_S", 0.3)
    monkeypatch.setattr(events, "POLL_S", 0.05)
    run = held_run
    async with service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events") as resp:
        async with asyncio.timeout(5):
            got = [e async for e in read_events(resp)]
    assert got[0].retry == events.RETRY_MS
    assert got[1:] and all(e.event == "progress" for e in got[1:]), got
    status, current = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert status == 200 and current["status"] in ("queued", "running")


async def test_streams_nobody_reads_hold_no_database_connection(
    service: Service, held_run: dict[str, Any], db: asyncpg.Pool
) -> None:
    """More streams than the API pool has connections: each tick reads the run with a short
    query of its own, so the API keeps answering and no transaction stays open."""
    run = held_run
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(12):
            resp = await streams.enter_async_context(
                service.client.get(f"{service.api}/ai-judging-runs/{run['id']}/events")
            )
            assert resp.status == 200
        async with asyncio.timeout(10):  # stops a hung test; not a time assertion
            for _ in range(10):
                status, body = await service.request("GET", "/ai-judges")
                assert status == 200, body
                await asyncio.sleep(events.POLL_S / 2)
        in_transaction = await db.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND state LIKE 'idle in transaction%'"""
        )
        assert in_transaction == 0
