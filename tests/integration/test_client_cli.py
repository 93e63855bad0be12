"""``releval-judge runs start|watch|list|cancel`` as a user runs it: a separate process
talking to a live service (RELEVAL_URL, RELEVAL_TOKEN), judging through the simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.cli import Result, run
from tests.support.servers import LocalServers
from tests.support.service import TOKEN, Service, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

SimFactory = Callable[[SimConfig], Awaitable[str]]


async def cli(service: Service | None, *args: str, token: str | None = TOKEN) -> Result:
    """Run ``releval-judge runs ARGS`` in a child process, configured by environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("RELEVAL_URL", "RELEVAL_TOKEN")}
    env["RELEVAL_URL"] = service.base_url if service else f"http://127.0.0.1:{free_port()}"
    if token is not None:
        env["RELEVAL_TOKEN"] = token
    return await run("releval_judge.client.cli", "runs", *args, env=env, timeout=60)


@pytest.fixture
def sim(local_servers: LocalServers) -> SimFactory:
    """Start simulators in this event loop; returns their OpenAI base URL."""

    async def start(config: SimConfig) -> str:
        port = await local_servers.sim(config)
        return f"http://127.0.0.1:{port}/v1"

    return start


async def judged_setup(
    service: Service, base_url: str, *, per_query: int = 10, **judge: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    evaluation = await create_evaluation(service, queries=3, per_query=per_query)
    fields: dict[str, Any] = {"batch_size": 5, "concurrency": 2}
    fields.update(judge)
    return evaluation, await create_judge(service, base_url, **fields)


async def test_start_prints_the_run_id_and_watch_follows_it_to_completion(
    service: Service, sim: SimFactory
) -> None:
    evaluation, judge = await judged_setup(service, await sim(SimConfig(latency_ms=30)))

    started = await cli(service, "start", evaluation["id"], "--judge", judge["id"])
    assert started.code == 0, started.stderr
    run_id = started.stdout.strip()
    assert "30 candidates" in started.stderr

    watched = await cli(service, "watch", run_id)
    assert watched.code == 0, watched.stderr
    assert watched.stdout.startswith("completed: 30 judged, 0 failed of 30")
    # The progress went to stderr: at least the final state, with its counters.
    assert "judged 30" in watched.stderr and "completed" in watched.stderr

    status, run = await service.request("GET", f"/ai-judging-runs/{run_id}")
    assert status == 200 and run["status"] == "completed" and run["judged"] == 30

    listed = await cli(service, "list", evaluation["id"])
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:5] == ["ID", "STATUS", "JUDGED", "FAILED", "TOTAL"]
    assert row.split()[:5] == [run_id, "completed", "30", "0", "30"]


async def test_start_with_watch_and_json_prints_the_final_run(
    service: Service, sim: SimFactory
) -> None:
    evaluation, judge = await judged_setup(service, await sim(SimConfig(latency_ms=10)))
    result = await cli(service, "start", evaluation["id"], "--judge", judge["id"], "--watch")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("completed: 30 judged")

    listed = await cli(service, "list", evaluation["id"], "--json")
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["completed"]
    assert runs[0]["judged"] + runs[0]["failed"] == runs[0]["total"] == 30


async def test_start_with_max_cost_stops_at_the_limit_and_unjudged_scope_continues(
    service: Service, sim: SimFactory
) -> None:
    evaluation, judge = await judged_setup(
        service,
        await sim(SimConfig(latency_ms=0)),
        concurrency=1,
        input_price_per_mtok=10.0,
        output_price_per_mtok=40.0,
        max_output_tokens=200,
    )
    limited = await cli(
        service, "start", evaluation["id"], "--judge", judge["id"], "--max-cost", "0.03", "--watch"
    )
    assert limited.code == 1, limited.stderr
    assert limited.stdout.startswith("failed: ")
    assert "of max 0.03" in limited.stdout and "cost limit reached" in limited.stdout

    rest = await cli(
        service, "start", evaluation["id"], "--judge", judge["id"], "--scope", "unjudged", "--watch"
    )
    assert rest.code == 0, rest.stderr
    runs = json.loads((await cli(service, "list", evaluation["id"], "--json")).stdout)
    assert sum(r["judged"] for r in runs) == 30
    assert [r["max_cost"] for r in runs] == [None, 0.03]


async def test_cancel_stops_the_run_and_watch_then_exits_3(
    service: Service, sim: SimFactory
) -> None:
    slow = await sim(SimConfig(latency_ms=3000))
    evaluation, judge = await judged_setup(service, slow, concurrency=1)
    status, run = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run

    async def running() -> bool:
        _, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
        return bool(body["status"] == "running")

    await wait_for(running)
    cancelled = await cli(service, "cancel", run["id"])
    assert cancelled.code == 0, cancelled.stderr
    assert "cancelled" in cancelled.stdout
    assert "partially judged" in cancelled.stdout

    watched = await cli(service, "watch", run["id"])
    assert watched.code == 3
    assert watched.stdout.startswith("cancelled:")

    again = await cli(service, "cancel", run["id"])
    assert again.code == 1
    assert "already ended" in again.stderr
    await wait_until_ended(service, run["id"])


async def test_watch_exits_non_zero_when_the_run_fails(service: Service, sim: SimFactory) -> None:
    evaluation, judge = await judged_setup(
        service, await sim(SimConfig(latency_ms=0)), model="missing-model"
    )
    result = await cli(service, "start", evaluation["id"], "--judge", judge["id"], "--watch")
    assert result.code == 1
    assert result.stdout.startswith("failed:")
    assert "missing-model" in result.stdout  # the provider's message, as the run's error


async def test_errors_say_what_to_fix(service: Service) -> None:
    no_token = await cli(service, "list", "whatever", token=None)
    assert no_token.code == 2
    assert "RELEVAL_TOKEN" in no_token.stderr

    unknown = await cli(service, "watch", "00000000-0000-0000-0000-000000000000")
    assert unknown.code == 1
    assert "not found" in unknown.stderr

    bad_token = await cli(service, "list", "whatever", token="wrong")
    assert bad_token.code == 1

    nobody = await cli(None, "list", "whatever")
    assert nobody.code == 1
    assert "cannot reach the service" in nobody.stderr


async def test_audit_waits_for_the_verdict_and_exits_by_it(
    service: Service, sim: SimFactory
) -> None:
    """``runs audit`` starts an audit of a run, waits, prints the verdict and the figures it
    rests on, and exits 0 only for a consistent judge (so that a CI job can stop on it)."""
    base_url = await sim(
        SimConfig(
            latency_ms=0, seed=7, position_bias=1, behaviour_models=frozenset({"biased-model"})
        )
    )
    words = ("gardening tools", "number {q} explained, query {q} answered", "number {q}")
    ended: dict[str, dict[str, Any]] = {}
    for model in ("steady-model", "biased-model"):
        evaluation = await create_evaluation(
            service,
            queries=4,
            per_query=10,
            texts=lambda q, r: words[(q + r) % len(words)].format(q=q),
        )
        judge = await create_judge(service, base_url, model=model, batch_size=5, concurrency=1)
        run_ = await start_run(service, evaluation["id"], judge["id"], reuse="none")
        ended[model] = await wait_until_ended(service, run_["id"])
        assert ended[model]["status"] == "completed", ended[model]

    steady = await cli(service, "audit", ended["steady-model"]["id"], "--seed", "3")
    assert steady.code == 0, steady.stderr
    assert "audit " in steady.stderr and "queued" in steady.stderr
    lines = steady.stdout.splitlines()
    assert lines[0] == "verdict: consistent (40 candidates, seed 3)", steady.stdout
    assert lines[1].startswith("  repeat: exact 1.000, weighted kappa")
    assert lines[2].startswith("  order: exact 1.000, weighted kappa")
    assert lines[3] == "  first minus last: +0.000 [+0.000, +0.000] over 16 pairs"
    assert lines[4].startswith("  16 calls, ")  # 8 batches of 5, twice

    biased = await cli(service, "audit", ended["biased-model"]["id"], "--seed", "3", "--json")
    assert biased.code == 1, biased.stderr  # a verdict other than consistent
    audit = json.loads(biased.stdout)
    assert audit["verdict"] == "order_sensitive", audit
    assert audit["position"]["first_minus_last"] > 0.25

    gone = await cli(service, "audit", "00000000-0000-0000-0000-000000000000")
    assert gone.code == 1 and "not found" in gone.stderr.lower(), gone.stderr
