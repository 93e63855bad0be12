"""A provider key's concurrency budget (a judge's ``key_concurrency``) is shared in
PostgreSQL by every run and every replica: slots claimed from separate connections are never
shared, a stale holder can neither renew nor free a slot, replicas take turns at a full key,
and two service processes judging on one key never have more calls in flight than it allows,
also when one of them is killed holding slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from releval_judge.engine import key_slots
from releval_judge.engine.key_slots import KeySlotPool
from releval_judge.engine.pacing import Halted
from releval_judge.store.database import apply_schema, create_pool
from releval_judge.store.key_slots import KeySlotStore, SlotClaim
from tests.support.api import start_run, wait_until_ended
from tests.support.fakes import FakeProvider
from tests.support.process import ServiceProcess, ServiceProcesses
from tests.support.runs import FAST_LEASES, HeldProvider, check_invariants, evaluation
from tests.support.servers import LocalServers
from tests.support.waiting import wait_for


@pytest.fixture
async def stores(database_url: str, db: asyncpg.Pool) -> AsyncIterator[list[KeySlotStore]]:
    """Two stores on two separate connection pools, as two replicas have."""
    await apply_schema(db)
    pools = [await create_pool(database_url, size=4) for _ in range(2)]
    yield [KeySlotStore(pool) for pool in pools]
    for pool in pools:
        await pool.close()


async def test_slots_claimed_from_separate_connections_are_never_shared(
    stores: list[KeySlotStore],
) -> None:
    await stores[0].seed("race-slots", 5)
    # One claim each, never repeated: no interest recorded (it would keep slots free for
    # a claimer that does not come back).
    claims = await asyncio.gather(
        *(
            stores[i % 2].claim(
                "race-slots", limit=5, holder=f"h{i}", wanted=3, ttl_s=30, interest_s=0
            )
            for i in range(8)
        )
    )
    taken = [(c.slot, c.epoch) for claimed in claims for c in claimed]
    assert sorted(s for s, _ in taken) == [0, 1, 2, 3, 4]  # each slot once, none beyond 5
    assert await stores[1].in_use("race-slots") == 5
    more = await stores[1].claim(
        "race-slots", limit=5, holder="late", wanted=1, ttl_s=30, interest_s=0
    )
    assert more == []


async def test_a_stale_holder_can_neither_renew_nor_free_a_slot(
    stores: list[KeySlotStore],
) -> None:
    a, b = stores
    await a.seed("stale-slots", 1)
    [old] = await a.claim("stale-slots", limit=1, holder="a", wanted=1, ttl_s=0.2, interest_s=0)
    await asyncio.sleep(0.3)  # A's slot expired (a pause): B takes it
    [new] = await b.claim("stale-slots", limit=1, holder="b", wanted=1, ttl_s=30, interest_s=0)
    assert (new.slot, new.epoch) == (old.slot, old.epoch + 1)

    await a.release("a", [old])
    assert await a.renew("a", [old], ttl_s=30) == set()
    assert await b.in_use("stale-slots") == 1  # B's claim stands
    assert await b.renew("b", [new], ttl_s=30) == {("stale-slots", 0)}


async def test_a_free_slot_goes_to_the_holder_that_has_waited_longest(
    stores: list[KeySlotStore],
) -> None:
    a, b = stores

    async def claim(store: KeySlotStore, holder: str, wanted: int) -> list[SlotClaim]:
        return await store.claim(
            "fair-slots", limit=2, holder=holder, wanted=wanted, ttl_s=30, interest_s=30
        )

    await a.seed("fair-slots", 2)
    [a0, a1] = await claim(a, "a", 2)
    assert await claim(a, "a", 1) == []  # A wants a third: it waits from now
    assert await claim(b, "b", 2) == []  # B waits from later
    await a.release("a", [a0])
    assert await claim(b, "b", 2) == []  # A has waited longer: the free slot is A's
    [a0] = await claim(a, "a", 1)  # A got all it wanted: it waits no more
    await a.release("a", [a1])
    assert await claim(a, "a", 1) == []  # B waits: A, asking first, takes nothing
    [b1] = await claim(b, "b", 2)  # B got one: its wait starts again from now
    assert b1.slot == a1.slot
    await a.release("a", [a0])
    assert await claim(b, "b", 1) == []  # A has waited longer than B now
    [a0] = await claim(a, "a", 1)
    await b.withdraw("fair-slots", "b")
    await a.release("a", [a0])
    # Nobody else waits: the holder that gave a slot back takes it again at once.
    assert [c.slot for c in await claim(a, "a", 1)] == [a0.slot]
    assert await a.in_use("fair-slots") == 2


async def test_two_replicas_pools_keep_to_the_key_limit_and_take_turns(
    stores: list[KeySlotStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_slots, "ROTATE_S", 0.2)
    limit = 3
    pools = [
        KeySlotPool(store, "turns-slots", limit, holder=f"replica-{n}", ttl_s=30)
        for n, store in enumerate(stores)
    ]
    in_use = 0
    peak = 0
    made = [0, 0]
    made_by_b_when_a_finished: list[int] = []

    async def caller(n: int, calls: int) -> None:
        nonlocal in_use, peak
        for _ in range(calls):
            slot = await pools[n].acquire()
            in_use += 1
            peak = max(peak, in_use)
            try:
                await asyncio.sleep(0.03)
            finally:
                in_use -= 1
                pools[n].release(slot)
            made[n] += 1

    async def replica(n: int) -> None:
        await asyncio.gather(*(caller(n, 10) for _ in range(6)))
        if n == 0:
            made_by_b_when_a_finished.append(made[1])

    try:
        await asyncio.gather(replica(0), replica(1))
    finally:
        for pool in pools:
            await pool.close()
    assert made == [60, 60]
    assert peak == limit
    # B waited at a key A had filled first, yet got its turns while A still had work.
    assert made_by_b_when_a_finished[0] >= 10
    assert await stores[0].in_use("turns-slots") == 0  # closed pools gave everything back


async def test_a_halt_while_waiting_for_a_slot_holds_nothing(
    stores: list[KeySlotStore],
) -> None:
    pool = KeySlotPool(stores[0], "halt-slots", 1, holder="h", ttl_s=30)
    first = await pool.acquire()
    stop = asyncio.Event()
    waiting = asyncio.create_task(pool.acquire(stop=stop))
    await asyncio.sleep(0.1)
    stop.set()
    with pytest.raises(Halted):
        await waiting
    pool.release(first)
    again = await pool.acquire()  # the slot was not lost to the halted waiter
    assert again.claim.slot == 0
    pool.release(again)
    await pool.close()
    assert await stores[0].in_use("halt-slots") == 0


# --- service processes --------------------------------------------------------------------


async def start_on_key(
    replica: ServiceProcess, provider: FakeProvider, n: int, candidates: int, key_concurrency: int
) -> str:
    status, created = await replica.request(
        "POST", "/evaluations/runs", json={**evaluation(candidates, 5), "name": f"keyed {n}"}
    )
    assert status == 201, created
    status, judge = await replica.request(
        "POST",
        "/ai-judges",
        json={
            "name": f"keyed judge {n}",
            "provider": "openai",
            "model": "m",
            "base_url": provider.base_url,
            "api_key": "sk-one-key-for-both",
            "batch_size": 1,
            "concurrency": 6,
            "key_concurrency": key_concurrency,
        },
    )
    assert status == 201, judge
    assert judge["key_concurrency"] == key_concurrency
    # The two runs' candidates are the same questions: each must call for its own.
    run = await start_run(replica, created["id"], judge["id"], reuse="none")
    run_id: str = run["id"]
    return run_id


@pytest.mark.slow
@pytest.mark.usefixtures("no_active_runs")
async def test_two_replicas_on_one_key_never_exceed_its_concurrency(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    slow = await local_servers.start(HeldProvider(delay=0.05))
    provider = slow.fake
    replicas = await processes.start_replicas(2)
    runs = [await start_on_key(r, provider, n, 60, 3) for n, r in enumerate(replicas)]
    finals: list[dict[str, Any]] = [
        await wait_until_ended(r, run_id, timeout=120)
        for r, run_id in zip(replicas, runs, strict=True)
    ]
    for run_id, final in zip(runs, finals, strict=True):
        assert (final["status"], final["judged"]) == ("completed", 60)
        await check_invariants(db, run_id)
    # Each run alone may have 6 calls in flight; on the key they had 3 together, at most.
    assert provider.peak == 3
    assert len(provider.calls) == 120


@pytest.mark.slow
@pytest.mark.usefixtures("no_active_runs")
async def test_a_killed_replicas_slots_are_freed_by_their_expiry(
    db: asyncpg.Pool, processes: ServiceProcesses, local_servers: LocalServers
) -> None:
    slow = await local_servers.start(HeldProvider(delay=0.02))
    provider = slow.fake
    a = processes.new("a", env=FAST_LEASES)
    b = processes.new("b", env=FAST_LEASES)
    await a.start()
    slow.hold.set()
    first = await start_on_key(a, provider, 0, 20, 2)

    async def a_holds_the_key() -> bool:
        return provider.in_flight == 2

    await wait_for(a_holds_the_key)
    a.kill()  # A dies holding both slots of the key
    await a.wait()
    slow.release()  # the dead replica's calls end at the provider

    async def drained() -> bool:
        return provider.in_flight == 0

    await wait_for(drained)
    provider.peak = 0
    await b.start()
    second = await start_on_key(b, provider, 1, 20, 2)
    finals = [await wait_until_ended(b, run_id, timeout=120) for run_id in (first, second)]
    # B judged both runs (A's by takeover) once A's slots had expired, never above the key's 2.
    for run_id, final in zip((first, second), finals, strict=True):
        assert (final["status"], final["judged"]) == ("completed", 20)
        await check_invariants(db, run_id)
    assert provider.peak == 2


async def test_a_slot_not_renewed_in_time_is_used_no_more(
    stores: list[KeySlotStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = KeySlotPool(stores[0], "unrenewed-slots", 1, holder="h", ttl_s=0.6)
    first = await pool.acquire()

    async def database_lost(*args: object, **kwargs: object) -> set[tuple[str, int]]:
        raise OSError("connection refused")

    monkeypatch.setattr(pool.store, "renew", database_lost)
    await asyncio.sleep(0.5)  # past two thirds of the slot's time without a renewal
    pool.release(first)
    monkeypatch.undo()
    again = await pool.acquire()
    # Not the old claim handed on: a new claim of the slot, at a new epoch.
    assert (again.claim.slot, again.claim.epoch) == (first.claim.slot, first.claim.epoch + 1)
    pool.release(again)
    await pool.close()
