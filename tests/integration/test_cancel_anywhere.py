"""A cancel sent to any replica stops new calls on the replica that judges the run: by
notification at once, and by the heartbeat when the notification is lost."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.conftest import wait_for
from tests.integration.test_replicas import (
    HeldProvider,
    events,
    start_judging,
    wait_for_event,
)
from tests.process import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs")]


async def test_a_cancel_through_another_replica_stops_the_holders_calls(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    held = HeldProvider()
    provider = await held.fake.start()
    # Heartbeats far away: only the notification can tell the holder in time.
    a = ServiceProcess(database_url, tmp_path / "a", env={"RELEVAL_LEASE_TTL_S": "600"})
    b = ServiceProcess(database_url, tmp_path / "b", env={"RELEVAL_LEASE_TTL_S": "600"})
    a.data_dir.mkdir()
    b.data_dir.mkdir()
    try:
        await a.start()
        await b.start()
        run = await start_judging(a, provider, 100)

        async def a_judges() -> bool:
            return len(provider.calls) >= 6

        await wait_for(a_judges)
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
    finally:
        held.release()
        await a.stop()
        await b.stop()
        await provider.stop()
    assert status == 200 and cancelled["status"] == "cancelled"
    [noticed] = events(a, "judging_run_cancel_noticed", run["id"])
    assert noticed["by"] == "notification"
    assert len(provider.calls) == calls_at_the_answer  # no call started after the answer
    assert final["status"] == "cancelled"
    assert final["judged"] == 2 * calls_at_the_answer  # the calls in flight were written


async def test_a_lost_notification_only_delays_the_cancel(
    database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    held = HeldProvider()
    provider = await held.fake.start()
    a = ServiceProcess(database_url, tmp_path / "a", env={"RELEVAL_LEASE_TTL_S": "1.5"})
    a.data_dir.mkdir()
    try:
        await a.start()
        run = await start_judging(a, provider, 100)

        async def a_judges() -> bool:
            return len(provider.calls) >= 6

        await wait_for(a_judges)
        held.hold.set()  # from now on A's calls wait at the provider
        await held.all_slots_held()
        # Cancelled by a replica whose notification never arrives.
        await db.execute(
            "UPDATE ai_judging_runs SET status = 'cancelled', finished_at = now()"
            " WHERE id = $1::uuid",
            run["id"],
        )
        calls_at_the_cancel = len(provider.calls)
        await wait_for_event(a, "judging_run_cancel_noticed", run["id"])
        held.release()

        async def a_is_idle() -> bool:
            return provider.in_flight == 0 and bool(events(a, "judging_run_stopped", run["id"]))

        await wait_for(a_is_idle)
    finally:
        held.release()
        await a.stop()
        await provider.stop()
    [noticed] = events(a, "judging_run_cancel_noticed", run["id"])
    assert noticed["by"] == "heartbeat"
    assert len(provider.calls) == calls_at_the_cancel
