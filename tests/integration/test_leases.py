"""Run leases in the database: claims raced from separate connections have one winner per
run, a lease outlives nobody's heartbeat, and a write with an outdated lease is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from releval_judge.errors import LeaseLost
from releval_judge.models import EvaluationRunCreate, JudgeConfig
from releval_judge.store.database import apply_schema, create_pool
from releval_judge.store.store import (
    BatchOutcome,
    JudgmentWrite,
    Lease,
    Store,
)
from tests.support.api import evaluation_body


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    pool = await create_pool(database_url, size=2)
    await apply_schema(pool)
    yield Store(pool)
    await pool.close()


async def queue_runs(store: Store, count: int) -> tuple[str, list[str]]:
    """An evaluation run of 6 candidates and ``count`` queued judging runs on it (as the
    API queues them, with no replica to claim them)."""
    evaluation = await store.create_evaluation_run(
        EvaluationRunCreate.model_validate(evaluation_body(queries=2, per_query=3))
    )
    judge = await store.create_judge(
        JudgeConfig(name="lease judge", provider="openai", model="m", base_url="http://x/v1"),
        by="lease test",
    )
    runs = [
        await store.create_judging_run(
            evaluation.id, judge.id, max_active=1000, created_by="lease test"
        )
        for _ in range(count)
    ]
    return evaluation.id, [r.run.id for r in runs]


async def end_runs(store: Store, run_ids: list[str]) -> None:
    """Leave no active run behind for the services of later tests."""
    await store.pool.execute(
        "UPDATE ai_judging_runs SET status = 'cancelled' WHERE id = ANY($1::uuid[])"
        " AND status IN ('queued', 'running')",
        [UUID(r) for r in run_ids],
    )


async def test_claims_raced_from_separate_connections_have_one_winner_per_run(
    store: Store, database_url: str
) -> None:
    _, run_ids = await queue_runs(store, 12)
    racers = []
    for _ in range(4):
        racers.append(Store(await create_pool(database_url, size=2)))
    start = asyncio.Event()

    async def race(racer: Store, name: str) -> list[tuple[str, str, int]]:
        won: list[tuple[str, str, int]] = []
        await start.wait()
        while True:
            claimed = await racer.claim_judging_runs(name, ttl_s=60, limit=2)
            if not claimed:
                return won
            won += [(c.run.id, name, c.lease.epoch) for c in claimed if c.lease]

    try:
        tasks = [asyncio.create_task(race(r, f"racer-{i}")) for i, r in enumerate(racers)]
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        for racer in racers:
            await racer.pool.close()
        await end_runs(store, run_ids)
    ours = [w for won in results for w in won if w[0] in run_ids]
    assert sorted(w[0] for w in ours) == sorted(run_ids)  # each run claimed exactly once
    assert {w[2] for w in ours} == {1}
    rows = await store.pool.fetch(
        "SELECT id::text, lease_owner, status FROM ai_judging_runs WHERE id = ANY($1::uuid[])",
        [UUID(r) for r in run_ids],
    )
    owners = {w[0]: w[1] for w in ours}
    assert all(r["lease_owner"] == owners[r["id"]] for r in rows)


async def test_a_held_lease_is_not_claimed_until_it_expires_or_is_given_back(
    store: Store,
) -> None:
    _, [run_id] = await queue_runs(store, 1)
    try:
        [first] = await store.claim_judging_runs("a", ttl_s=60, limit=1000, exclude=[])
        assert first.run.id == run_id and first.run.status == "running"
        assert first.lease == Lease("a", 1)
        others = await store.claim_judging_runs("b", ttl_s=60, limit=1000)
        assert run_id not in [c.run.id for c in others]
        assert await store.renew_leases("a", {run_id: Lease("a", 1)}, ttl_s=60) == {
            run_id: "running"
        }
        assert await store.release_leases("a", {run_id: Lease("a", 1)}) == 1
        taken = await store.claim_judging_runs("b", ttl_s=60, limit=1000)
        assert [c.lease for c in taken if c.run.id == run_id] == [Lease("b", 2)]
        # The first holder's heartbeat learns it lost the run.
        assert await store.renew_leases("a", {run_id: Lease("a", 1)}, ttl_s=60) == {}
    finally:
        await end_runs(store, [run_id])


async def test_a_write_with_an_outdated_lease_is_refused_and_writes_nothing(
    store: Store,
) -> None:
    evaluation_id, [run_id] = await queue_runs(store, 1)
    try:
        [claimed] = await store.claim_judging_runs("a", ttl_s=0.01, limit=1000)
        assert claimed.run.id == run_id
        stale = claimed.lease
        assert stale is not None
        await asyncio.sleep(0.05)  # the lease expires (a paused or partitioned replica)
        taken = [c for c in await store.claim_judging_runs("b", ttl_s=60, limit=1000)]
        [fresh] = [c.lease for c in taken if c.run.id == run_id]
        assert fresh == Lease("b", stale.epoch + 1)
        pending = await store.pending_candidates(evaluation_id, run_id, after=None, limit=10)
        outcome = BatchOutcome(
            judgments=[JudgmentWrite(candidate_id=pending[0].id, grade=1, reasoning="r")],
            failures=[],
            input_tokens=10,
            output_tokens=5,
        )
        write = {
            "evaluation_run_id": evaluation_id,
            "judging_run_id": run_id,
            "run_seq": claimed.seq,
            "judge_name": "lease judge",
            "outcome": outcome,
        }
        with pytest.raises(LeaseLost):
            await store.record_batch(**write, lease=stale)  # type: ignore[arg-type]
        with pytest.raises(LeaseLost):  # the same owner, an earlier claim: refused too
            await store.record_batch(**write, lease=Lease("b", stale.epoch))  # type: ignore[arg-type]
        with pytest.raises(LeaseLost):  # nor can it record a provider batch to submit
            await store.batches.create(
                run_id,
                provider="openai",
                submission_key="k",
                requests=[],
                reserved_cost=0.0,
                lease_owner=stale.owner,
                lease_epoch=stale.epoch,
            )
        ended = await store.finish_judging_run(run_id, "completed", None, stale)
        assert ended.status == "running"  # nor end the run
        row = await store.pool.fetchrow(
            "SELECT judged, input_tokens, (SELECT count(*) FROM ai_run_judgments"
            " WHERE ai_judging_run_id = $1) AS rows FROM ai_judging_runs WHERE id = $1",
            UUID(run_id),
        )
        assert row is not None
        assert (row["judged"], row["input_tokens"], row["rows"]) == (0, 0, 0)

        await store.record_batch(**write, lease=fresh)  # type: ignore[arg-type]
        after = await store.get_judging_run(run_id)
        assert (after.judged, after.input_tokens) == (1, 10)
    finally:
        await end_runs(store, [run_id])
