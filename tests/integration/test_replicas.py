"""Several `releval-judge serve` processes on one PostgreSQL: a run is judged by the replica
holding its lease, a stopped or dead replica's run is continued by another, and each
candidate is written exactly once.

The provider is a fake on loopback that records which candidates each call carried, so
calls repeated by a takeover can be counted.
"""

from __future__ import annotations

import os
import signal

import asyncpg
import pytest

from tests.support.api import wait_until_ended
from tests.support.process import ServiceProcesses, events, wait_for_event
from tests.support.runs import (
    BATCH,
    CONCURRENCY,
    FAST_LEASES,
    HeldProvider,
    check_invariants,
    start_judging,
)
from tests.support.servers import LocalServers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]


async def test_rolling_deploy_the_stopped_replica_gives_its_run_to_the_other(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    held = await local_servers.start(HeldProvider())
    provider = held.fake
    a = processes.new("a", env={"RELEVAL_SHUTDOWN_GRACE_S": "20"})
    b = processes.new("b", env={"RELEVAL_CLAIM_INTERVAL_S": "0.2"})
    await a.start()
    run = await start_judging(a, provider, 200)

    await held.judging(calls=10)
    held.hold.set()  # from now on A's calls wait at the provider

    await held.all_slots_held()
    await b.start()  # the new version comes up while A judges
    a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    await wait_for_event(a, "dispatching_stopped")
    calls_before_the_signal = len(provider.calls)
    held.release()  # A's calls in flight are answered and written
    code = await a.wait()
    final = await wait_until_ended(b, run["id"], timeout=120)
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
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    held = await local_servers.start(HeldProvider())
    provider = held.fake
    a = processes.new("a", env=FAST_LEASES)
    b = processes.new("b", env=FAST_LEASES)
    await a.start()
    await b.start()
    run = await start_judging(a, provider, 200)

    await held.judging(calls=10)
    holder = await db.fetchval(
        "SELECT lease_owner FROM ai_judging_runs WHERE id = $1::uuid", run["id"]
    )
    first, other = (a, b) if holder.endswith(f":{a.port}") else (b, a)
    first.kill()
    await first.wait()
    final = await wait_until_ended(other, run["id"], timeout=120)
    assert final["status"] == "completed"
    assert (final["judged"], final["total"]) == (200, 200)
    await check_invariants(db, run["id"])
    assert [e["epoch"] for e in events(other, "judging_run_claimed", run["id"])] == [2]
    batches = 100
    # Only the calls in flight at the kill were asked again.
    assert len(provider.calls) <= batches + 2 * CONCURRENCY
    assert len(held.sent) == 200


async def test_a_paused_replica_that_lost_its_lease_writes_nothing_and_stops(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    held = await local_servers.start(HeldProvider())
    provider = held.fake
    a = processes.new("a", env=FAST_LEASES)
    b = processes.new("b", env=FAST_LEASES)
    await a.start()
    run = await start_judging(a, provider, 200)

    await held.judging(calls=10)
    held.hold.set()

    await held.all_slots_held()
    assert a.process is not None
    os.kill(a.process.pid, signal.SIGSTOP)  # a long pause: A's lease expires
    await b.start()
    await wait_for_event(b, "judging_run_claimed", run["id"])
    held.release()  # A's calls are answered while A is paused; B judges meanwhile
    final = await wait_until_ended(b, run["id"], timeout=120)
    os.kill(a.process.pid, signal.SIGCONT)  # A wakes up with answers to write
    await wait_for_event(a, "judging_run_handed_over", run["id"])
    _, after = await b.request("GET", f"/ai-judging-runs/{run['id']}")
    assert final["status"] == "completed"
    assert after == final  # A's late answers changed nothing
    await check_invariants(db, run["id"])
    assert [e["epoch"] for e in events(b, "judging_run_claimed", run["id"])] == [2]
    assert len(held.sent) == 200
    assert len(provider.calls) <= 100 + 2 * CONCURRENCY
