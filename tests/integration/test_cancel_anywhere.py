"""A cancel sent to any replica stops new calls on the replica that judges the run: by
notification at once, and by the heartbeat when the notification is lost."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.process import ServiceProcesses, events, wait_for_event
from tests.support.runs import HeldProvider, start_judging
from tests.support.servers import LocalServers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]


async def test_a_cancel_through_another_replica_stops_the_holders_calls(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    held = await local_servers.start(HeldProvider())
    provider = held.fake
    # Heartbeats far away: only the notification can tell the holder in time.
    a = processes.new("a", env={"RELEVAL_LEASE_TTL_S": "600"})
    b = processes.new("b", env={"RELEVAL_LEASE_TTL_S": "600"})
    await a.start()
    await b.start()
    run = await start_judging(a, provider, 100)

    await held.judging(calls=6)
    held.hold.set()  # from now on A's calls wait at the provider
    await held.all_slots_held()
    holder = await db.fetchval(
        "SELECT lease_owner FROM ai_judging_runs WHERE id = $1::uuid", run["id"]
    )
    if not holder.endswith(f":{a.port}"):
        a, b = b, a  # both were told the run was queued; B claimed it first
    status, cancelled = await b.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    calls_at_the_answer = len(provider.calls)
    await wait_for_event(a, "judging_run_cancel_noticed", run["id"])
    held.release()  # A's dispatcher would start the next call now, were it not halted

    async def a_is_idle() -> bool:
        return provider.in_flight == 0 and bool(events(a, "judging_run_stopped", run["id"]))

    await wait_for(a_is_idle)
    _, final = await b.request("GET", f"/ai-judging-runs/{run['id']}")
    assert status == 200 and cancelled["status"] == "cancelled"
    [noticed] = events(a, "judging_run_cancel_noticed", run["id"])
    assert noticed["by"] == "notification"
    assert len(provider.calls) == calls_at_the_answer  # no call started after the answer
    assert final["status"] == "cancelled"
    assert final["judged"] == 2 * calls_at_the_answer  # the calls in flight were written


async def test_a_lost_notification_only_delays_the_cancel(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    held = await local_servers.start(HeldProvider())
    provider = held.fake
    a = processes.new("a", env={"RELEVAL_LEASE_TTL_S": "1.5"})
    await a.start()
    run = await start_judging(a, provider, 100)

    await held.judging(calls=6)
    held.hold.set()  # from now on A's calls wait at the provider
    await held.all_slots_held()
    # Cancelled by a replica whose notification never arrives.
    await db.execute(
        "UPDATE ai_judging_runs SET status = 'cancelled', finished_at = now() WHERE id = $1::uuid",
        run["id"],
    )
    calls_at_the_cancel = len(provider.calls)
    await wait_for_event(a, "judging_run_cancel_noticed", run["id"])
    held.release()

    async def a_is_idle() -> bool:
        return provider.in_flight == 0 and bool(events(a, "judging_run_stopped", run["id"]))

    await wait_for(a_is_idle)
    [noticed] = events(a, "judging_run_cancel_noticed", run["id"])
    assert noticed["by"] == "heartbeat"
    assert len(provider.calls) == calls_at_the_cancel
