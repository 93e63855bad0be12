"""Several `releval-judge serve` processes on one PostgreSQL: a run is judged by the replica
holding its lease, a stopped or dead replica's run is continued by another, and each
candidate is written exactly once.

The provider is a fake on loopback that records which candidates each call carried, so
calls repeated by a takeover can be counted.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.conftest import wait_for
from tests.fakes import FakeProvider, blocks, completion, document_ids
from tests.integration.test_crash import TITLE, check_invariants, evaluation, log_events
from tests.process import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]

# Short leases so that a dead replica's run is taken over within the test.
FAST_LEASES = {"RELEVAL_LEASE_TTL_S": "2", "RELEVAL_CLAIM_INTERVAL_S": "0.2"}
BATCH, CONCURRENCY = 2, 3


class HeldProvider:
    """Answers at once, or holds every call while ``hold`` is set; counts candidates."""

    def __init__(self) -> None:
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
        await asyncio.sleep(0.01)
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    async def all_slots_held(self) -> None:
        """Until every call slot of the run is taken by a held call: its dispatcher waits."""

        async def held() -> bool:
            return self.waiting == CONCURRENCY

        await wait_for(held)

    def release(self) -> None:
        self.hold.clear()
        self.released.set()


async def start_judging(
    service: ServiceProcess, provider: FakeProvider, candidates: int
) -> dict[str, Any]:
    status, created = await service.request(
        "POST", "/evaluations/runs", json=evaluation(candidates, 10)
    )
    assert status == 201
    status, judge = await service.request(
        "POST",
        "/ai-judges",
        json={
            "name": "replica judge",
            "provider": "openai",
            "model": "m",
            "base_url": provider.base_url,
            "batch_size": BATCH,
            "concurrency": CONCURRENCY,
        },
    )
    assert status == 201
    status, run = await service.request(
        "POST", f"/evaluations/runs/{created['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201
    result: dict[str, Any] = run
    return result


def events(service: ServiceProcess, name: str, run_id: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in log_events(service.logs())
        if e.get("event") == name and (run_id is None or e.get("judging_run_id") == run_id)
    ]


async def wait_for_event(service: ServiceProcess, name: str, run_id: str | None = None) -> None:
    async def seen() -> bool:
        return bool(events(service, name, run_id))

    await wait_for(seen, timeout=60)


async def until_completed(service: ServiceProcess, run_id: str) -> dict[str, Any]:
    final: dict[str, Any] = {}

    async def ended() -> bool:
        _, body = await service.request("GET", f"/ai-judging-runs/{run_id}")
        final.update(body)
        return body["status"] not in ("queued", "running")

    await wait_for(ended, timeout=120)
    return final


async def test_rolling_deploy_the_stopped_replica_gives_its_run_to_the_other(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    held = HeldProvider()
    provider = await held.fake.start()
    a = ServiceProcess(database_url, tmp_path / "a", env={"RELEVAL_SHUTDOWN_GRACE_S": "20"})
    b = ServiceProcess(database_url, tmp_path / "b", env={"RELEVAL_CLAIM_INTERVAL_S": "0.2"})
    a.data_dir.mkdir()
    b.data_dir.mkdir()
    try:
        await a.start()
        run = await start_judging(a, provider, 200)

        async def judging() -> bool:
            return len(provider.calls) >= 10

        await wait_for(judging)
        held.hold.set()  # from now on A's calls wait at the provider

        await held.all_slots_held()
        await b.start()  # the new version comes up while A judges
        a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        await wait_for_event(a, "dispatching_stopped")
        calls_before_the_signal = len(provider.calls)
        held.release()  # A's calls in flight are answered and written
        code = await a.wait()
        final = await until_completed(b, run["id"])
    finally:
        held.release()
        await a.stop()
        await b.stop()
        await provider.stop()
    assert code == 0
    assert final["status"] == "completed"
    assert (final["judged"], final["total"]) == (200, 200)
    await check_invariants(db, run["id"])
    [stopped] = events(a, "runner_stopped")
    assert stopped["leases_released"] == 1  # given back, not left to expire
    [claimed] = [e for e in events(b, "judging_run_claimed", run["id"])]
    assert claimed["epoch"] == 2
    # A started no call after the signal: B found exactly what A's calls had written.
    assert claimed["judged"] == BATCH * calls_before_the_signal
    assert len(held.sent) == 200
    assert max(held.sent.values()) == 1  # nothing was asked twice
    assert len(provider.calls) == 100  # batches of 2


async def test_a_killed_replicas_run_is_taken_over_without_any_restart(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    held = HeldProvider()
    provider = await held.fake.start()
    a = ServiceProcess(database_url, tmp_path / "a", env=FAST_LEASES)
    b = ServiceProcess(database_url, tmp_path / "b", env=FAST_LEASES)
    a.data_dir.mkdir()
    b.data_dir.mkdir()
    try:
        await a.start()
        await b.start()
        run = await start_judging(a, provider, 200)

        async def judging() -> bool:
            return len(provider.calls) >= 10

        await wait_for(judging)
        holder = await db.fetchval(
            "SELECT lease_owner FROM ai_judging_runs WHERE id = $1::uuid", run["id"]
        )
        first, other = (a, b) if holder.endswith(f":{a.port}") else (b, a)
        first.kill()
        await first.wait()
        final = await until_completed(other, run["id"])
    finally:
        await a.stop()
        await b.stop()
        await provider.stop()
    assert final["status"] == "completed"
    assert (final["judged"], final["total"]) == (200, 200)
    await check_invariants(db, run["id"])
    assert [e["epoch"] for e in events(other, "judging_run_claimed", run["id"])] == [2]
    batches = 100
    # Only the calls in flight at the kill were asked again.
    assert len(provider.calls) <= batches + 2 * CONCURRENCY
    assert len(held.sent) == 200


async def test_a_paused_replica_that_lost_its_lease_writes_nothing_and_stops(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    held = HeldProvider()
    provider = await held.fake.start()
    a = ServiceProcess(database_url, tmp_path / "a", env=FAST_LEASES)
    b = ServiceProcess(database_url, tmp_path / "b", env=FAST_LEASES)
    a.data_dir.mkdir()
    b.data_dir.mkdir()
    try:
        await a.start()
        run = await start_judging(a, provider, 200)

        async def judging() -> bool:
            return len(provider.calls) >= 10

        await wait_for(judging)
        held.hold.set()

        await held.all_slots_held()
        assert a.process is not None
        os.kill(a.process.pid, signal.SIGSTOP)  # a long pause: A's lease expires
        await b.start()
        await wait_for_event(b, "judging_run_claimed", run["id"])
        held.release()  # A's calls are answered while A is paused; B judges meanwhile
        final = await until_completed(b, run["id"])
        os.kill(a.process.pid, signal.SIGCONT)  # A wakes up with answers to write
        await wait_for_event(a, "judging_run_handed_over", run["id"])
        _, after = await b.request("GET", f"/ai-judging-runs/{run['id']}")
    finally:
        if a.process is not None and a.process.returncode is None:
            os.kill(a.process.pid, signal.SIGCONT)
        held.release()
        await a.stop()
        await b.stop()
        await provider.stop()
    assert final["status"] == "completed"
    assert after == final  # A's late answers changed nothing
    await check_invariants(db, run["id"])
    assert [e["epoch"] for e in events(b, "judging_run_claimed", run["id"])] == [2]
    assert len(held.sent) == 200
    assert len(provider.calls) <= 100 + 2 * CONCURRENCY
