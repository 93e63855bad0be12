"""Scenario 1b, ``--only roles``: one process against an ``api`` + a ``worker`` process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import Bench, dispatch_seconds, new_evaluation, new_judge
from bench.harness import Sim, database, service
from bench.modes import BATCH, LATENCY_MS
from bench.report import percentile, print_progress, table
from releval_judge.client.api import ApiClient
from releval_judge.models import JudgingRun


async def scenario(bench: Bench) -> None:
    """Efficiency at 8, 32 and 128 for one process and for one ``api`` + one ``worker``
    process (on a database of their own), and the p99 of ``GET /ai-judging-runs/{id}``
    polled 20 times a second while a run judges at concurrency 128, both ways."""
    rows: list[dict[str, Any]] = []
    split_dir = bench.data_dir / "split"
    split_dir.mkdir(parents=True, exist_ok=True)
    token = bench.svc.token
    # Each topology alone on the machine (the split's processes and database only exist
    # while it is measured), each with a fresh simulator.
    async with bench.sim() as sim:
        rows += await _topology_rows(bench, "one process", bench.api, sim)
    async with (
        bench.sim() as sim,
        database(split_dir, "_split") as split_db,
        service(split_db, split_dir / "api", token, role="api") as api_svc,
        service(split_db, split_dir / "worker", token, role="worker") as worker_svc,
        ApiClient(api_svc.url, token, timeout_s=7200) as split_api,
    ):
        rows += await _topology_rows(bench, "api + worker", split_api, sim)
        worker_cpu = worker_svc.child.cpu_s()
    bench.results["roles"] = {"rows": rows, "worker_cpu_s": worker_cpu}
    table(
        f"1b. One process vs api + worker processes ({LATENCY_MS:.0f} ms, batch {BATCH}); "
        "GET of the run polled 20/s while judging",
        ["topology", "conc", "cands", "eff", "GET p50 ms", "GET p99 ms", "GETs"],
        [
            [
                r["topology"],
                r["concurrency"],
                f"{r['candidates']:,}",
                f"{r['efficiency']:.3f}",
                f"{r['get_p50_ms']:.1f}" if r.get("get_p50_ms") is not None else "-",
                f"{r['get_p99_ms']:.1f}" if r.get("get_p99_ms") is not None else "-",
                r.get("get_samples", "-"),
            ]
            for r in rows
        ],
    )


async def _topology_rows(
    bench: Bench, topology: str, api: ApiClient, sim: Sim
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for concurrency in (8, 32, 128):
        candidates = bench.mode.roles_candidates(concurrency)
        final, _ = await _timed_run(api, sim, candidates, concurrency, poll=False)
        ideal = concurrency * BATCH / (LATENCY_MS / 1000)
        rate = (final.judged + final.failed) / max(dispatch_seconds(final), 1e-9)
        rows.append(
            {
                "topology": topology,
                "concurrency": concurrency,
                "candidates": candidates,
                "efficiency": rate / ideal,
            }
        )
        print_progress(f"{topology} c={concurrency}: {rate / ideal:.3f} of ideal")
    final, latencies = await _timed_run(api, sim, bench.mode.roles_poll_candidates, 128, poll=True)
    ideal = 128 * BATCH / (LATENCY_MS / 1000)
    rate = (final.judged + final.failed) / max(dispatch_seconds(final), 1e-9)
    rows.append(
        {
            "topology": topology,
            "concurrency": 128,
            "candidates": bench.mode.roles_poll_candidates,
            "efficiency": rate / ideal,
            "get_p50_ms": percentile(latencies, 0.5),
            "get_p99_ms": percentile(latencies, 0.99),
            "get_samples": len(latencies),
        }
    )
    return rows


async def _timed_run(
    api: ApiClient, sim: Sim, candidates: int, concurrency: int, *, poll: bool
) -> tuple[JudgingRun, list[float]]:
    """One run through `api` (its own evaluation run and judge); with `poll`, the
    latency of every GET of the run made while it was queued or running."""
    evaluation_id, _ = await new_evaluation(api, candidates, f"bench roles {candidates}")
    judge_id = await new_judge(
        api, sim, name=f"bench roles c{concurrency}", concurrency=concurrency
    )
    run = await api.start_judging_run(evaluation_id, judge_id, reuse="none")
    latencies: list[float] = []
    while True:
        started = time.perf_counter()
        current = await api.get_judging_run(run.id)
        if current.status not in ("queued", "running"):
            return current, latencies
        if poll and current.status == "running":
            latencies.append(1000 * (time.perf_counter() - started))
        await asyncio.sleep(0.05 if poll else 0.25)
