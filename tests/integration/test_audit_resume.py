"""An audit survives its process like a run does (docs/decisions.md, "Audits resume where
they stopped"): the service runs as real processes on a real PostgreSQL, the provider is a
fake on loopback that records which batch each call carried. A process stopped mid-audit
(SIGKILL or SIGTERM) leaves the batches already answered kept; the replica that takes the
audit over asks only the rest, and its calls, tokens and cost carry over. Two replicas
starting on an unended audit make one attempt between them. An audit queued on an `api`
replica is run by a worker, which stops it at its next heartbeat when it is cancelled on
the `api` replica, keeping what it spent."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from releval_judge.store.database import apply_schema
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.audits import CountingProvider, audit_ended, audit_state
from tests.support.process import ServiceProcess, ServiceProcesses, events
from tests.support.runs import FAST_LEASES
from tests.support.servers import LocalServers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_active_runs", "no_active_audits")]

# Two queries of three documents, batches of three, one call at a time: two batches a
# pass, four calls an audit.
QUERIES, PER_QUERY, BATCH = 2, 3, 3
CALLS = 2 * QUERIES * PER_QUERY // BATCH
INPUT, OUTPUT = 100, 20  # the fake provider's usage of every call


@pytest.fixture
async def no_active_audits(db: asyncpg.Pool) -> AsyncIterator[None]:
    """Audits left unended by earlier tests would be claimed by these processes (and these
    tests' by later services): cancelled before and after."""
    await apply_schema(db)
    sql = "UPDATE audits SET status = 'cancelled' WHERE status IN ('queued', 'running')"
    await db.execute(sql)
    yield
    await db.execute(sql)


async def judged_run(service: ServiceProcess, provider: CountingProvider) -> str:
    judge = await create_judge(
        service,
        provider.fake.base_url,
        batch_size=BATCH,
        concurrency=1,
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
    )
    evaluation = await create_evaluation(service, queries=QUERIES, per_query=PER_QUERY)
    started = await start_run(service, evaluation["id"], judge["id"], reuse="none")
    run = await wait_until_ended(service, started["id"])
    assert run["status"] == "completed", run
    run_id: str = run["id"]
    return run_id


async def audit_stopped_after_one_batch(
    service: ServiceProcess, provider: CountingProvider, signal_name: str
) -> dict[str, Any]:
    """Start an audit whose first call is answered and whose second is held, then stop
    ``service`` with ``signal_name``; the audit as it was before the stop."""
    run_id = await judged_run(service, provider)
    provider.counting = True
    provider.answer_only(1)
    status, audit = await service.request(
        "POST", f"/ai-judging-runs/{run_id}/audits", json={"sample_size": 6, "seed": 2}
    )
    assert status == 201, audit

    async def first_batch_kept() -> bool:
        state = await audit_state(service, audit["id"])
        return state["calls"] == 1 and len(provider.asked) == 2

    await wait_for(first_batch_kept, timeout=30)
    before = await audit_state(service, audit["id"])
    if signal_name == "SIGKILL":
        service.kill()
        await service.wait()
    else:
        assert await service.terminate() == 0
    return before


def assert_resumed(end: dict[str, Any], provider: CountingProvider) -> None:
    """Completed from the kept batch: the answered batch never asked again, the held one
    asked again, the order pass once each; usage of every answered call, once."""
    assert (end["status"], end["verdict"], end["failed"]) == ("completed", "consistent", 0), end
    assert end["repeat"]["pairs"] == QUERIES * PER_QUERY
    assert (end["calls"], end["input_tokens"], end["output_tokens"]) == (
        CALLS,
        CALLS * INPUT,
        CALLS * OUTPUT,
    )
    assert end["cost"]["total"] == pytest.approx(CALLS * (INPUT * 2.0 + OUTPUT * 8.0) / 1e6)
    asked = Counter(provider.asked)
    answered_first, held = provider.asked[0], provider.asked[1]
    assert len(provider.asked) == CALLS + 1, provider.asked
    assert (asked[answered_first], asked[held]) == (1, 2), provider.asked
    reversed_batches = [tuple(reversed(b)) for b in (answered_first, held)]
    assert [asked[b] for b in reversed_batches] == [1, 1], provider.asked


def audit_events(service: ServiceProcess, name: str, audit_id: str) -> list[dict[str, Any]]:
    return [e for e in events(service, name) if e.get("audit_id") == audit_id]


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
async def test_another_replica_finishes_an_audit_without_asking_again(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers, signal_name: str
) -> None:
    provider = await local_servers.start(CountingProvider())
    first = processes.new("a", env=FAST_LEASES)
    await first.start()

    before = await audit_stopped_after_one_batch(first, provider, signal_name)

    audit_id = before["id"]
    assert (before["status"], before["calls"]) == ("running", 1)
    kept = await db.fetch("SELECT pass FROM audit_answers WHERE audit_id = $1::uuid", audit_id)
    assert [r["pass"] for r in kept] == ["repeat"] * BATCH  # the answered batch, kept
    provider.answer_all()
    second = processes.new("b", env=FAST_LEASES)
    await second.start()
    end = await audit_ended(second, audit_id)

    assert_resumed(end, provider)
    (resumed,) = audit_events(second, "audit_resumed", audit_id)
    assert (resumed["kept_repeat"], resumed["kept_order"]) == (BATCH, 0)


async def test_two_replicas_starting_on_an_unended_audit_make_one_attempt(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    provider = await local_servers.start(CountingProvider())
    first = processes.new("a", env=FAST_LEASES)
    await first.start()
    before = await audit_stopped_after_one_batch(first, provider, "SIGKILL")
    audit_id = before["id"]
    provider.answer_only(0)  # the taker's calls are held: it keeps its claim meanwhile

    async def lapsed() -> bool:
        sql = "SELECT lease_expires_at <= clock_timestamp() FROM audits WHERE id = $1::uuid"
        return bool(await db.fetchval(sql, audit_id))

    # Free when both start: each one's start-up claim (made before it answers /readyz)
    # finds it free unless the other has taken it.
    await wait_for(lapsed, timeout=30)
    b, c = processes.new("b", env=FAST_LEASES), processes.new("c", env=FAST_LEASES)
    await asyncio.gather(b.start(), c.start())

    async def taken_over() -> bool:
        return len(provider.asked) == 3  # the taker's first call, held

    await wait_for(taken_over, timeout=30)
    claims = [len(audit_events(r, "audit_claimed", audit_id)) for r in (b, c)]
    assert sorted(claims) == [0, 1], claims
    # The dead replica's attempt and one more: the loser left it alone.
    assert await db.fetchval("SELECT attempt FROM audits WHERE id = $1::uuid", audit_id) == 2
    provider.answer_all()
    end = await audit_ended(b, audit_id)

    assert_resumed(end, provider)
    assert await db.fetchval("SELECT attempt FROM audits WHERE id = $1::uuid", audit_id) == 2


async def test_an_audit_queued_and_cancelled_on_an_api_replica_is_run_and_stopped_by_a_worker(
    processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    provider = await local_servers.start(CountingProvider())
    api = processes.new("api", env={**FAST_LEASES, "RELEVAL_ROLE": "api"})
    worker = processes.new("worker", env={**FAST_LEASES, "RELEVAL_ROLE": "worker"})
    await asyncio.gather(api.start(), worker.start())
    run_id = await judged_run(api, provider)
    provider.counting = True
    provider.answer_only(1)

    status, audit = await api.request(
        "POST", f"/ai-judging-runs/{run_id}/audits", json={"sample_size": 6}
    )
    assert (status, audit["status"]) == (201, "queued"), audit

    async def second_call_held() -> bool:
        state = await audit_state(api, audit["id"])
        return state["calls"] == 1 and len(provider.asked) == 2

    await wait_for(second_call_held, timeout=30)
    assert audit_events(worker, "audit_claimed", audit["id"])  # the worker runs it
    status, cancelled = await api.request("POST", f"/audits/{audit['id']}/cancel")
    assert (status, cancelled["status"]) == (200, "cancelled"), cancelled

    # The worker hears of it at its next heartbeat and stops the audit's calls.
    async def noticed() -> bool:
        return bool(audit_events(worker, "audit_cancel_noticed", audit["id"]))

    await wait_for(noticed, timeout=30)
    provider.answer_all()
    after = await audit_state(api, audit["id"])
    assert (after["status"], after["calls"], after["input_tokens"]) == ("cancelled", 1, INPUT)
    assert len(provider.asked) == 2  # nothing asked after the cancel
