"""The benchmarks (``make bench``, ``make bench-quick``): figures, never a pass/fail.

Runs the service (``python -m releval_judge serve``, a real process on an embedded
PostgreSQL — or RELEVAL_DATABASE_URL's server, in a database of its own that is dropped
at the end) against the provider simulator (``releval-judge sim``, a process of its own,
restarted for each configuration), and measures, as /work/shared/BENCHMARKS.md asks:

1. efficiency: achieved candidates/s ÷ ideal (concurrency × batch ÷ latency) at 200 ms,
   batch 10, concurrency 8/32/128 — also against a bare aiohttp client's ceiling on the
   same simulator, and as the service's CPU per candidate;
2. the service's CPU per judged candidate at zero latency (and the database's);
3. a 1,000,000-candidate run (quick: 50,000): import time and throughput, the service's
   peak memory while importing and while judging, the start call's latency, and
   p50/p99 of ``GET /ai-judging-runs/{id}`` while the run goes on;
4. cancel: provider calls started after the cancel response (must be 0), and how long
   until the calls in flight are done;
5. rate limits against a simulator limit of 600 requests a minute, with the judge's
   ``requests_per_minute`` set and with adaptation alone;
5b. two replicas on one provider key with a ``key_concurrency`` budget: the provider's peak
   of calls in flight and how busy the budget kept the key;
6. input tokens per judgment with the default template, batch 1 vs batch 10;
7. GET latency while 24 clients stall (bench/slow_clients.py).

Prints tables and writes ``bench/results.json``. Medians of several runs where cheap
(the number of runs is printed as n). Usage: ``python -m bench.run [--quick] [--only
efficiency,cancel,…]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import answer_cap, slow_clients
from bench.bare import bare_client
from bench.data import candidate_lines, ndjson_chunks
from bench.harness import Database, RssSampler, Service, Sim, database, service, simulator
from releval_judge.client.api import ApiClient
from releval_judge.models import JudgingRun, Prices
from releval_judge.prompt import DEFAULT_TEMPLATE
from releval_judge.secrets import new_token
from releval_judge.sim import StatsReport

SCENARIOS = (
    "efficiency",
    "roles",
    "cpu",
    "big",
    "cancel",
    "rate_limits",
    "key_concurrency",
    "tokens",
    "cost",
    "answer_cap",
    "slow_clients",
)
BATCH = 10
LATENCY_MS = 200.0
MB = 1024 * 1024
# Fixed text before the template's first variable, as teams write relevance rubrics: about
# 1,500 tokens that every prompt starts with (what prompt caching serves).
GUIDELINES = (
    "Relevance guidelines for the assessors of this collection.\n"
    + (
        "A document is relevant when it answers the query's information need; grade by how "
        "completely and directly it does so, never by its length or its style.\n"
    )
    * 40
)


@dataclass(frozen=True)
class Mode:
    name: str
    efficiency_candidates: Callable[[int], int]  # by concurrency
    efficiency_runs: int
    cpu_candidates: int
    cpu_runs: int
    big_candidates: int
    big_max_run_s: float
    cancel_candidates: int
    cancel_runs: int
    rate_limit_s: float
    rate_limit_candidates: int
    key_concurrency_s: float
    token_candidates: int
    cost_candidates: int
    roles_candidates: Callable[[int], int]  # by concurrency
    roles_poll_candidates: int


FULL = Mode(
    name="full",
    efficiency_candidates=lambda concurrency: 20_000,
    efficiency_runs=3,
    cpu_candidates=20_000,
    cpu_runs=3,
    big_candidates=1_000_000,
    big_max_run_s=1800.0,
    cancel_candidates=20_000,
    cancel_runs=5,
    rate_limit_s=150.0,
    rate_limit_candidates=60_000,
    key_concurrency_s=30.0,
    token_candidates=1_000,
    cost_candidates=10_000,
    roles_candidates=lambda concurrency: 20_000,
    roles_poll_candidates=100_000,
)
QUICK = Mode(
    name="quick",
    # 25 calls per slot as in BENCHMARKS.md's reference, at most 8,000 candidates (at
    # concurrency 128 the service is CPU-bound on two cores anyway).
    efficiency_candidates=lambda concurrency: min(concurrency * BATCH * 25, 8_000),
    efficiency_runs=1,
    cpu_candidates=5_000,
    cpu_runs=1,
    big_candidates=50_000,
    big_max_run_s=60.0,
    cancel_candidates=10_000,
    cancel_runs=3,
    rate_limit_s=12.0,
    rate_limit_candidates=20_000,
    key_concurrency_s=8.0,
    token_candidates=300,
    cost_candidates=2_000,
    roles_candidates=lambda concurrency: min(concurrency * BATCH * 25, 8_000),
    roles_poll_candidates=40_000,
)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class RunMeasure:
    """One judging run, measured from outside."""

    total: int
    judged: int
    failed: int
    status: str
    dispatch_s: float  # started_at → finished_at, the service's own timestamps
    service_cpu_s: float
    db_cpu_s: float | None
    sim_cpu_s: float
    input_tokens: int
    output_tokens: int

    @property
    def done(self) -> int:
        return self.judged + self.failed

    @property
    def rate(self) -> float:
        return self.done / self.dispatch_s if self.dispatch_s > 0 else float("nan")

    @property
    def cpu_us_per_candidate(self) -> float:
        return 1e6 * self.service_cpu_s / max(self.done, 1)


class Bench:
    def __init__(self, mode: Mode, api: ApiClient, svc: Service, db: Database, data_dir: Path):
        self.mode = mode
        self.api = api
        self.svc = svc
        self.db = db
        self.data_dir = data_dir
        self.results: dict[str, Any] = {}

    def sim(self, **config: Any) -> contextlib.AbstractAsyncContextManager[Sim]:
        """A simulator process: 200 ms fixed latency unless ``config`` says otherwise."""
        return simulator({"latency_ms": LATENCY_MS, "seed": 1, **config}, self.data_dir)

    async def evaluation(self, candidates: int) -> tuple[str, float]:
        """A completed evaluation run with ``candidates`` imported; (id, import seconds)."""
        run = await self.api.create_evaluation_run(
            {
                "name": f"bench {candidates}",
                "status": "completed",
                "scale": {"min": 0, "max": 3},
            }
        )
        started = time.perf_counter()
        result = await self.api.import_candidates(run.id, ndjson_chunks(candidates))
        seconds = time.perf_counter() - started
        assert result.imported == candidates, result
        return run.id, seconds

    async def judge(
        self, sim: Sim, *, concurrency: int, batch_size: int = BATCH, **extra: Any
    ) -> str:
        judge = await self.api.create_judge(
            {
                "name": f"bench c{concurrency} b{batch_size}",
                "provider": "openai",
                "model": "bench",
                "base_url": sim.openai_base_url,
                "api_key": "sk-bench",
                "batch_size": batch_size,
                "concurrency": concurrency,
                "max_retries": 5,
                **extra,
            }
        )
        return judge.id

    async def judge_run(self, evaluation_id: str, judge_id: str, sim: Sim) -> RunMeasure:
        """Start a judging run and wait for its end, metering CPU on the way."""
        service_cpu = self.svc.child.cpu_s()
        db_cpu = self.db.cpu_s()
        sim_cpu = sim.child.cpu_s()
        run = await self.api.start_judging_run(evaluation_id, judge_id)
        final = await self.api.watch(run.id, min_interval_s=0.25, max_interval_s=0.5)
        return measure(
            final,
            service_cpu_s=self.svc.child.cpu_s() - service_cpu,
            db_cpu_s=_delta(self.db.cpu_s(), db_cpu),
            sim_cpu_s=sim.child.cpu_s() - sim_cpu,
        )

    # --- 1 ------------------------------------------------------------------------------

    async def efficiency(self) -> None:
        rows: list[dict[str, Any]] = []
        async with self.sim() as sim:
            for concurrency in (8, 32, 128):
                candidates = self.mode.efficiency_candidates(concurrency)
                ideal = concurrency * BATCH / (LATENCY_MS / 1000)
                runs: list[RunMeasure] = []
                bare_rates: list[float] = []
                before = await service_counters(self.svc.url)
                for _ in range(self.mode.efficiency_runs):
                    evaluation_id, _ = await self.evaluation(candidates)
                    judge_id = await self.judge(sim, concurrency=concurrency)
                    runs.append(await self.judge_run(evaluation_id, judge_id, sim))
                    bare = await bare_client(
                        sim.openai_base_url,
                        calls=candidates // BATCH,
                        concurrency=concurrency,
                        batch_size=BATCH,
                    )
                    bare_rates.append(bare.calls_per_s * BATCH)
                after = await service_counters(self.svc.url)
                delta = {k: after[k] - before[k] for k in after}
                rate = median([r.rate for r in runs])
                bare_rate = median(bare_rates)
                rows.append(
                    {
                        "concurrency": concurrency,
                        "candidates": candidates,
                        "n": len(runs),
                        "ideal_per_s": ideal,
                        "service_per_s": rate,
                        "efficiency": rate / ideal,
                        "bare_per_s": bare_rate,
                        "bare_efficiency": bare_rate / ideal,
                        "service_vs_bare": rate / bare_rate,
                        "service_cpu_us_per_candidate": median(
                            [r.cpu_us_per_candidate for r in runs]
                        ),
                        "failed": sum(r.failed for r in runs),
                        # Batches a run's write merges (engine.writes): > 1 when they queue.
                        "batches_per_write": delta["batches"] / max(delta["statements"], 1.0),
                        # The provider call as the service saw it (the simulator's 200 ms
                        # plus the wait for the loop), and time the loop-lag back-pressure
                        # held new batches back, over the n runs.
                        "mean_call_ms": 1000 * delta["call_s"] / max(delta["calls"], 1.0),
                        "dispatch_held_s": delta["held_s"],
                    }
                )
                print_progress(f"efficiency c={concurrency}: {rate / ideal:.3f} of ideal")
        self.results["efficiency"] = {"latency_ms": LATENCY_MS, "batch_size": BATCH, "rows": rows}
        table(
            f"1. Efficiency at {LATENCY_MS:.0f} ms latency, batch {BATCH} "
            "(ideal = conc × batch ÷ latency)",
            [
                "conc",
                "cands",
                "n",
                "ideal/s",
                "service/s",
                "eff",
                "bare/s",
                "bare eff",
                "svc÷bare",
                "CPU µs/cand",
                "batches/write",
                "call ms",
                "held s",
            ],
            [
                [
                    r["concurrency"],
                    r["candidates"],
                    r["n"],
                    f"{r['ideal_per_s']:.0f}",
                    f"{r['service_per_s']:.0f}",
                    f"{r['efficiency']:.3f}",
                    f"{r['bare_per_s']:.0f}",
                    f"{r['bare_efficiency']:.3f}",
                    f"{r['service_vs_bare']:.3f}",
                    f"{r['service_cpu_us_per_candidate']:.0f}",
                    f"{r['batches_per_write']:.1f}",
                    f"{r['mean_call_ms']:.0f}",
                    f"{r['dispatch_held_s']:.1f}",
                ]
                for r in rows
            ],
        )

    # --- 2 ------------------------------------------------------------------------------

    async def cpu(self) -> None:
        concurrency = 32
        candidates = self.mode.cpu_candidates
        runs: list[RunMeasure] = []
        bare_cpu: list[float] = []
        async with self.sim(latency_ms=0.0) as sim:
            for _ in range(self.mode.cpu_runs):
                evaluation_id, _ = await self.evaluation(candidates)
                judge_id = await self.judge(sim, concurrency=concurrency)
                runs.append(await self.judge_run(evaluation_id, judge_id, sim))
                bare = await bare_client(
                    sim.openai_base_url,
                    calls=candidates // BATCH,
                    concurrency=concurrency,
                    batch_size=BATCH,
                )
                bare_cpu.append(1e6 * bare.cpu_per_call_s / BATCH)
        service_us = median([r.cpu_us_per_candidate for r in runs])
        db_values = [1e6 * r.db_cpu_s / max(r.done, 1) for r in runs if r.db_cpu_s is not None]
        db_us = median(db_values) if db_values else None
        result = {
            "concurrency": concurrency,
            "batch_size": BATCH,
            "candidates": candidates,
            "n": len(runs),
            "service_cpu_us_per_candidate": service_us,
            "database_cpu_us_per_candidate": db_us,
            "bare_client_cpu_us_per_candidate": median(bare_cpu),
            "service_vs_bare_cpu": service_us / median(bare_cpu),
            "throughput_per_s": median([r.rate for r in runs]),
        }
        self.results["cpu_zero_latency"] = result
        table(
            f"2. CPU per judged candidate at zero latency (conc {concurrency}, batch {BATCH})",
            ["cands", "n", "service µs", "database µs", "bare client µs", "svc÷bare", "cands/s"],
            [
                [
                    candidates,
                    len(runs),
                    f"{service_us:.0f}",
                    "-" if db_us is None else f"{db_us:.0f}",
                    f"{result['bare_client_cpu_us_per_candidate']:.0f}",
                    f"{result['service_vs_bare_cpu']:.1f}",
                    f"{result['throughput_per_s']:.0f}",
                ]
            ],
        )

    # --- 1b -----------------------------------------------------------------------------

    async def roles(self) -> None:
        """Efficiency at 8, 32 and 128 for one process and for one ``api`` + one ``worker``
        process (on a database of their own), and the p99 of ``GET /ai-judging-runs/{id}``
        polled 20 times a second while a run judges at concurrency 128, both ways."""
        rows: list[dict[str, Any]] = []
        split_dir = self.data_dir / "split"
        split_dir.mkdir(parents=True, exist_ok=True)
        token = self.svc.token
        # Each topology alone on the machine (the split's processes and database only exist
        # while it is measured), each with a fresh simulator.
        async with self.sim() as sim:
            rows += await self._topology_rows("one process", self.api, sim)
        async with (
            self.sim() as sim,
            database(split_dir, "_split") as split_db,
            service(split_db, split_dir / "api", token, role="api") as api_svc,
            service(split_db, split_dir / "worker", token, role="worker") as worker_svc,
            ApiClient(api_svc.url, token, timeout_s=7200) as split_api,
        ):
            rows += await self._topology_rows("api + worker", split_api, sim)
            worker_cpu = worker_svc.child.cpu_s()
        self.results["roles"] = {"rows": rows, "worker_cpu_s": worker_cpu}
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

    async def _topology_rows(self, topology: str, api: ApiClient, sim: Sim) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for concurrency in (8, 32, 128):
            candidates = self.mode.roles_candidates(concurrency)
            final, _ = await self._timed_run(api, sim, candidates, concurrency, poll=False)
            ideal = concurrency * BATCH / (LATENCY_MS / 1000)
            rate = (final.judged + final.failed) / max(_dispatch_s(final), 1e-9)
            rows.append(
                {
                    "topology": topology,
                    "concurrency": concurrency,
                    "candidates": candidates,
                    "efficiency": rate / ideal,
                }
            )
            print_progress(f"{topology} c={concurrency}: {rate / ideal:.3f} of ideal")
        final, latencies = await self._timed_run(
            api, sim, self.mode.roles_poll_candidates, 128, poll=True
        )
        ideal = 128 * BATCH / (LATENCY_MS / 1000)
        rate = (final.judged + final.failed) / max(_dispatch_s(final), 1e-9)
        rows.append(
            {
                "topology": topology,
                "concurrency": 128,
                "candidates": self.mode.roles_poll_candidates,
                "efficiency": rate / ideal,
                "get_p50_ms": percentile(latencies, 0.5),
                "get_p99_ms": percentile(latencies, 0.99),
                "get_samples": len(latencies),
            }
        )
        return rows

    async def _timed_run(
        self, api: ApiClient, sim: Sim, candidates: int, concurrency: int, *, poll: bool
    ) -> tuple[JudgingRun, list[float]]:
        """One run through `api` (its own evaluation run and judge); with `poll`, the
        latency of every GET of the run made while it was queued or running."""
        evaluation = await api.create_evaluation_run(
            {
                "name": f"bench roles {candidates}",
                "status": "completed",
                "scale": {"min": 0, "max": 3},
            }
        )
        await api.import_candidates(evaluation.id, ndjson_chunks(candidates))
        judge = await api.create_judge(
            {
                "name": f"bench roles c{concurrency}",
                "provider": "openai",
                "model": "bench",
                "base_url": sim.openai_base_url,
                "api_key": "sk-bench",
                "batch_size": BATCH,
                "concurrency": concurrency,
                "max_retries": 5,
            }
        )
        run = await api.start_judging_run(evaluation.id, judge.id)
        latencies: list[float] = []
        while True:
            started = time.perf_counter()
            current = await api.get_judging_run(run.id)
            if current.status not in ("queued", "running"):
                return current, latencies
            if poll and current.status == "running":
                latencies.append(1000 * (time.perf_counter() - started))
            await asyncio.sleep(0.05 if poll else 0.25)

    # --- 3 ------------------------------------------------------------------------------

    async def big(self) -> None:
        candidates = self.mode.big_candidates
        concurrency = 128
        rss_before = self.svc.child.rss_bytes()
        async with RssSampler(self.svc.child) as import_rss:
            evaluation_id, import_s = await self.evaluation(candidates)
        async with self.sim() as sim:
            judge_id = await self.judge(sim, concurrency=concurrency)
            service_cpu = self.svc.child.cpu_s()
            async with RssSampler(self.svc.child) as run_rss:
                started = time.perf_counter()
                run = await self.api.start_judging_run(evaluation_id, judge_id)
                start_call_ms = 1000 * (time.perf_counter() - started)
                get_ms, final, cancelled = await self._poll_latencies(run)
            cpu_s = self.svc.child.cpu_s() - service_cpu
        done = final.judged + final.failed
        dispatch = _dispatch_s(final)
        result = {
            "candidates": candidates,
            "import_s": import_s,
            "import_per_s": candidates / import_s,
            "service_rss_before_mb": rss_before / MB,
            "service_peak_rss_import_mb": import_rss.peak / MB,
            "start_call_ms": start_call_ms,
            "service_peak_rss_run_mb": run_rss.peak / MB,
            "get_run_p50_ms": percentile(get_ms, 0.5),
            "get_run_p99_ms": percentile(get_ms, 0.99),
            "get_run_samples": len(get_ms),
            "judging_concurrency": concurrency,
            "judging_latency_ms": LATENCY_MS,
            "judged": final.judged,
            "failed": final.failed,
            "status": final.status,
            "stopped_after_s": self.mode.big_max_run_s if cancelled else None,
            "judging_per_s": done / dispatch if dispatch > 0 else None,
            "service_cpu_us_per_candidate": 1e6 * cpu_s / max(done, 1),
        }
        self.results["big_run"] = result
        note = (
            f" (stopped after {self.mode.big_max_run_s:.0f} s: {done:,} of {candidates:,} done)"
            if cancelled
            else ""
        )
        table(
            f"3. A {candidates:,}-candidate run (conc {concurrency}, {LATENCY_MS:.0f} ms){note}",
            [
                "import s",
                "import cands/s",
                "RSS import MB",
                "start call ms",
                "RSS run MB",
                "GET p50 ms",
                "GET p99 ms",
                "judged/s",
                "CPU µs/cand",
            ],
            [
                [
                    f"{import_s:.1f}",
                    f"{result['import_per_s']:,.0f}",
                    f"{result['service_peak_rss_import_mb']:.0f}",
                    f"{start_call_ms:.0f}",
                    f"{result['service_peak_rss_run_mb']:.0f}",
                    f"{result['get_run_p50_ms']:.1f}",
                    f"{result['get_run_p99_ms']:.1f}",
                    "-" if result["judging_per_s"] is None else f"{result['judging_per_s']:,.0f}",
                    f"{result['service_cpu_us_per_candidate']:.0f}",
                ]
            ],
        )
        print(f"  (service RSS before the import: {rss_before / MB:.0f} MB)")

    async def _poll_latencies(self, run: JudgingRun) -> tuple[list[float], JudgingRun, bool]:
        """GET the run about five times a second until it ends (or the time cap cancels
        it); the latency of every GET made while it was queued or running."""
        latencies: list[float] = []
        deadline = time.monotonic() + self.mode.big_max_run_s
        cancelled = False
        while True:
            started = time.perf_counter()
            current = await self.api.get_judging_run(run.id)
            if current.status in ("queued", "running"):
                latencies.append(1000 * (time.perf_counter() - started))
            else:
                return latencies, current, cancelled
            if not cancelled and time.monotonic() > deadline:
                await self.api.cancel_judging_run(run.id)
                cancelled = True
            await asyncio.sleep(0.2)

    # --- 4 ------------------------------------------------------------------------------

    async def cancel(self) -> None:
        rows: list[dict[str, Any]] = []
        concurrency = 32
        async with self.sim() as sim:
            for _ in range(self.mode.cancel_runs):
                evaluation_id, _ = await self.evaluation(self.mode.cancel_candidates)
                judge_id = await self.judge(sim, concurrency=concurrency)
                await sim.reset()
                run = await self.api.start_judging_run(evaluation_id, judge_id)
                # Let it reach full speed first: about a second of calls.
                while (await self.api.get_judging_run(run.id)).judged < concurrency * BATCH * 4:
                    await asyncio.sleep(0.05)
                in_flight = (await sim.stats()).in_flight
                asked = time.time()
                response = await self.api.cancel_judging_run(run.id)
                answered = time.time()
                drained = await _until_idle(sim)
                stats = await sim.stats()
                late = [t for t in stats.call_times if t > answered]
                during = [t for t in stats.call_times if asked < t <= answered]
                await asyncio.sleep(0.3)
                final = await self.api.get_judging_run(run.id)
                rows.append(
                    {
                        "status_in_response": response.status,
                        "calls_in_flight_at_cancel": in_flight,
                        "calls_started_during_cancel_request": len(during),
                        "calls_started_after_response": len(late),
                        "cancel_response_ms": 1000 * (answered - asked),
                        "in_flight_done_after_ms": 1000 * (drained - answered),
                        "judged_at_response": response.judged,
                        "judged_final": final.judged,
                        "total": final.total,
                    }
                )
        after = max(r["calls_started_after_response"] for r in rows)
        summary = {
            "n": len(rows),
            "calls_started_after_response_max": after,
            "cancel_response_ms_median": median([r["cancel_response_ms"] for r in rows]),
            "in_flight_done_after_ms_median": median([r["in_flight_done_after_ms"] for r in rows]),
            "calls_in_flight_at_cancel_median": median(
                [r["calls_in_flight_at_cancel"] for r in rows]
            ),
            "runs": rows,
        }
        self.results["cancel"] = summary
        table(
            f"4. Cancel during a run (conc {concurrency}, {LATENCY_MS:.0f} ms; "
            "must be 0 calls after)",
            [
                "n",
                "calls after response (max)",
                "in flight at cancel",
                "response ms",
                "in-flight done after ms",
            ],
            [
                [
                    len(rows),
                    after,
                    f"{summary['calls_in_flight_at_cancel_median']:.0f}",
                    f"{summary['cancel_response_ms_median']:.1f}",
                    f"{summary['in_flight_done_after_ms_median']:.0f}",
                ]
            ],
        )
        if after:
            print("  !! provider calls started after the cancel response: see results.json")

    # --- 5 ------------------------------------------------------------------------------

    async def rate_limits(self) -> None:
        rows: list[dict[str, Any]] = []
        limit = 600
        concurrency = 32
        seconds = self.mode.rate_limit_s
        for label, extra in (
            ("requests_per_minute=600", {"requests_per_minute": limit}),
            ("adaptation alone", {}),
        ):
            # A fresh simulator each time: its 60-s window starts empty.
            async with self.sim(requests_per_minute=limit) as sim:
                evaluation_id, _ = await self.evaluation(self.mode.rate_limit_candidates)
                judge_id = await self.judge(sim, concurrency=concurrency, **extra)
                run = await self.api.start_judging_run(evaluation_id, judge_id)
                await asyncio.sleep(seconds)
                await self.api.cancel_judging_run(run.id)
                await _until_idle(sim)
                stats = await sim.stats()
                final = await self.api.get_judging_run(run.id)
            span = seconds
            admitted = sum(n for status, n in stats.responses_by_status.items() if status != "429")
            window = _busiest_window(stats.call_times)
            rows.append(
                {
                    "judge": label,
                    "seconds": span,
                    "attempts": stats.calls,
                    "rate_limited_429": stats.rate_limited,
                    "admitted": admitted,
                    "admitted_per_min": admitted / span * 60,
                    "attempts_in_busiest_60s": window,
                    "judged": final.judged,
                    "judged_per_min": final.judged / span * 60,
                    "ideal_judged_per_min": limit * BATCH,
                }
            )
            print_progress(f"rate limits, {label}: {stats.rate_limited} × 429")
        rows.append(await self._two_replicas_on_one_key(limit, concurrency, seconds))
        self.results["rate_limits"] = {
            "simulator_requests_per_minute": limit,
            "concurrency": concurrency,
            "latency_ms": LATENCY_MS,
            "note": "the simulator counts a sliding 60-s window; runs shorter than 60 s see "
            "the first window's burst allowance, not the steady state",
            "rows": rows,
        }
        table(
            f"5. Rate limits: simulator at {limit} requests/min, {seconds:.0f} s per judge "
            f"(conc {concurrency}; ideal {limit * BATCH:,} judged/min)",
            ["judge", "attempts", "429s", "admitted", "admitted/min", "judged/min", "busiest 60 s"],
            [
                [
                    r["judge"],
                    r["attempts"],
                    r["rate_limited_429"],
                    r["admitted"],
                    f"{r['admitted_per_min']:.0f}",
                    f"{r['judged_per_min']:.0f}",
                    r["attempts_in_busiest_60s"],
                ]
                for r in rows
            ],
        )
        if seconds < 60:
            print(
                "  (shorter than the simulator's 60-s window: `make bench` shows the steady state)"
            )

    async def _two_replicas_on_one_key(
        self, limit: int, concurrency: int, seconds: float
    ) -> dict[str, Any]:
        """Two service processes on one database, each judging with a judge on the same
        provider key at `requests_per_minute=limit`: the budget they share in PostgreSQL."""
        stats, judged = await self._replicas_on_one_key(
            {"requests_per_minute": limit},
            concurrency,
            seconds,
            sim_config={"requests_per_minute": limit},
        )
        admitted = sum(n for status, n in stats.responses_by_status.items() if status != "429")
        print_progress(f"rate limits, two replicas on one key: {stats.rate_limited} × 429")
        return {
            "judge": "2 replicas, one key, rpm=600 each",
            "seconds": seconds,
            "attempts": stats.calls,
            "rate_limited_429": stats.rate_limited,
            "admitted": admitted,
            "admitted_per_min": admitted / seconds * 60,
            "attempts_in_busiest_60s": _busiest_window(stats.call_times),
            "judged": judged,
            "judged_per_min": judged / seconds * 60,
            "ideal_judged_per_min": limit * BATCH,
        }

    async def _replicas_on_one_key(
        self,
        judge_extra: dict[str, Any],
        concurrency: int,
        seconds: float,
        *,
        sim_config: dict[str, Any],
    ) -> tuple[StatsReport, int]:
        """Two service processes on one database judge for `seconds`, each with a judge of
        its own on the same provider key (`judge_extra`: its shared limits); the simulator's
        stats and the candidates judged in all."""
        replica_dir = self.data_dir / "replica-2"
        replica_dir.mkdir(parents=True, exist_ok=True)
        async with (
            self.sim(**sim_config) as sim,
            service(self.db, replica_dir, self.svc.token) as second,
            ApiClient(second.url, self.svc.token, timeout_s=7200) as api2,
        ):
            runs: list[tuple[ApiClient, str, str]] = []
            for api in (self.api, api2):
                evaluation = await api.create_evaluation_run(
                    {"name": "bench replicas", "status": "completed", "scale": {"min": 0, "max": 3}}
                )
                await api.import_candidates(
                    evaluation.id, ndjson_chunks(self.mode.rate_limit_candidates)
                )
                judge = await api.create_judge(
                    {
                        "name": "bench replica judge",
                        "provider": "openai",
                        "model": "bench",
                        "base_url": sim.openai_base_url,
                        "api_key": "sk-bench",
                        "batch_size": BATCH,
                        "concurrency": concurrency,
                        "max_retries": 5,
                        **judge_extra,
                    }
                )
                runs.append((api, evaluation.id, judge.id))
            # Both start together, once both have their candidates.
            started = [
                (api, await api.start_judging_run(evaluation_id, judge_id))
                for api, evaluation_id, judge_id in runs
            ]
            await asyncio.sleep(seconds)
            judged = 0
            for api, run in started:
                await api.cancel_judging_run(run.id)
            await _until_idle(sim)
            for api, run in started:
                judged += (await api.get_judging_run(run.id)).judged
            stats = await sim.stats()
        return stats, judged

    async def key_concurrency(self) -> None:
        """Two replicas on one key whose judges allow 32 calls each, under a key budget of
        `key_concurrency` calls in flight: the provider's peak, and how busy the key was."""
        slots, concurrency = 16, 32
        seconds = self.mode.key_concurrency_s
        stats, judged = await self._replicas_on_one_key(
            {"key_concurrency": slots}, concurrency, seconds, sim_config={}
        )
        ideal = slots * BATCH / (LATENCY_MS / 1000) * seconds
        row = {
            "replicas": 2,
            "concurrency_per_run": concurrency,
            "key_concurrency": slots,
            "seconds": seconds,
            "provider_peak_in_flight": stats.concurrent_peak,
            "calls": stats.calls,
            "judged": judged,
            "key_efficiency": judged / ideal,
        }
        self.results["key_concurrency"] = {"latency_ms": LATENCY_MS, "batch": BATCH, **row}
        print_progress(f"key concurrency: peak {stats.concurrent_peak} of {slots}")
        table(
            f"5b. Key concurrency: 2 replicas, concurrency {concurrency} each, one key with "
            f"key_concurrency {slots}, {seconds:.0f} s at {LATENCY_MS:.0f} ms",
            ["provider peak in flight", "calls", "judged", "judged ÷ key-bound ideal"],
            [[stats.concurrent_peak, stats.calls, judged, f"{row['key_efficiency']:.3f}"]],
        )

    # --- 6 ------------------------------------------------------------------------------

    async def tokens(self) -> None:
        rows: list[dict[str, Any]] = []
        candidates = self.mode.token_candidates
        async with self.sim(latency_ms=0.0) as sim:
            for batch_size in (1, 10, 20):
                evaluation_id, _ = await self.evaluation(candidates)
                judge_id = await self.judge(sim, concurrency=16, batch_size=batch_size)
                run = await self.judge_run(evaluation_id, judge_id, sim)
                rows.append(
                    {
                        "batch_size": batch_size,
                        "candidates": candidates,
                        "input_tokens_per_judgment": run.input_tokens / max(run.done, 1),
                        "output_tokens_per_judgment": run.output_tokens / max(run.done, 1),
                    }
                )
        saving = 1 - rows[1]["input_tokens_per_judgment"] / rows[0]["input_tokens_per_judgment"]
        first = json.loads(next(candidate_lines(1)))
        doc_tokens = round((len(first["title"]) + len(first["text"])) / 4)
        self.results["tokens"] = {
            "template": "default",
            "document_tokens_approx": doc_tokens,
            "rows": rows,
            "input_saving_batch_10": saving,
        }
        table(
            f"6. Tokens per judgment, default template (documents of ~{doc_tokens} tokens; "
            "the simulator counts 4 characters a token)",
            ["batch", "input/judgment", "output/judgment"],
            [
                [
                    r["batch_size"],
                    f"{r['input_tokens_per_judgment']:.0f}",
                    f"{r['output_tokens_per_judgment']:.0f}",
                ]
                for r in rows
            ],
        )
        print(f"  batch 10 sends {saving:.0%} fewer input tokens per judgment than batch 1")

    # --- 7 ------------------------------------------------------------------------------

    async def cost(self) -> None:
        """Cost per 1,000 judgments: live and batch delivery of the same candidates with a
        judge whose template starts with ~1,500 tokens of fixed guidelines, each priced
        without and with the cached-input price (same prices otherwise)."""
        candidates = self.mode.cost_candidates
        prices = Prices(input_per_mtok=2.0, cached_input_per_mtok=0.5, output_per_mtok=8.0)
        uncached = Prices(input_per_mtok=2.0, output_per_mtok=8.0)
        rows: list[dict[str, Any]] = []
        for delivery in ("live", "batch"):
            # A simulator of its own per run: the second run must not find the first's
            # prompts in the provider's cache.
            async with self.sim(latency_ms=50.0, batch_completion_s=5.0) as sim:
                evaluation_id, _ = await self.evaluation(candidates)
                judge_id = await self.judge(
                    sim,
                    concurrency=32,
                    prompt_template=GUIDELINES + DEFAULT_TEMPLATE,
                    delivery=delivery,
                    input_price_per_mtok=prices.input_per_mtok,
                    cached_input_price_per_mtok=prices.cached_input_per_mtok,
                    output_price_per_mtok=prices.output_per_mtok,
                )
                run = await self.api.start_judging_run(evaluation_id, judge_id)
                final = await self.api.watch(run.id, min_interval_s=0.25, max_interval_s=1.0)
                factor = 0.5 if delivery == "batch" else 1.0
                for caching, table_prices in (("no", uncached), ("yes", prices)):
                    cost = table_prices.cost(
                        final.input_tokens,
                        final.output_tokens,
                        cached_input_tokens=final.cached_input_tokens,
                        factor=factor,
                    ).total
                    rows.append(
                        {
                            "delivery": delivery,
                            "cache_priced": caching,
                            "status": final.status,
                            "judged": final.judged,
                            "input_tokens": final.input_tokens,
                            "cached_input_tokens": final.cached_input_tokens,
                            "output_tokens": final.output_tokens,
                            "cost_per_1000": 1000 * cost / max(final.judged, 1),
                            "service_cost": final.cost.total if final.cost else None,
                        }
                    )
        self.results["cost"] = {
            "candidates": candidates,
            "prices_per_mtok": {"input": 2.0, "cached_input": 0.5, "output": 8.0},
            "batch_price_factor": 0.5,
            "rows": rows,
        }
        table(
            f"7. Cost per 1,000 judgments, {candidates:,} candidates, batch {BATCH}, a template "
            "with ~1,500 tokens of fixed guidelines; $2 input, $0.50 cached input, $8 output "
            "per million tokens, batch delivery at 0.5",
            ["delivery", "caching", "judged", "input tok", "cached", "output tok", "$/1,000"],
            [
                [
                    r["delivery"],
                    r["cache_priced"],
                    f"{r['judged']:,}",
                    f"{r['input_tokens']:,}",
                    f"{r['cached_input_tokens']:,}",
                    f"{r['output_tokens']:,}",
                    f"{r['cost_per_1000']:.4f}",
                ]
                for r in rows
            ],
        )


def measure(
    run: JudgingRun, *, service_cpu_s: float, db_cpu_s: float | None, sim_cpu_s: float
) -> RunMeasure:
    return RunMeasure(
        total=run.total,
        judged=run.judged,
        failed=run.failed,
        status=run.status,
        dispatch_s=_dispatch_s(run),
        service_cpu_s=service_cpu_s,
        db_cpu_s=db_cpu_s,
        sim_cpu_s=sim_cpu_s,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
    )


def _dispatch_s(run: JudgingRun) -> float:
    if run.started_at is None or run.finished_at is None:
        return float("nan")
    return (run.finished_at - run.started_at).total_seconds()


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


async def _until_idle(sim: Sim, timeout_s: float = 60.0) -> float:
    """Wait until the simulator has no call in flight; the epoch time it was seen idle."""
    deadline = time.monotonic() + timeout_s
    while (await sim.stats()).in_flight > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return time.time()


def _busiest_window(times: list[float], window_s: float = 60.0) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- output ------------------------------------------------------------------------------


async def service_counters(url: str) -> dict[str, float]:
    """Counters of the service's /metrics summed over their labels: batches written and
    write statements, provider calls and their seconds, seconds dispatch was held back."""
    names = {
        "releval_batches_written_total": "batches",
        "releval_batch_write_statements_total": "statements",
        "releval_provider_call_seconds_count": "calls",
        "releval_provider_call_seconds_sum": "call_s",
        "releval_dispatch_held_seconds_total": "held_s",
    }
    values = dict.fromkeys(names.values(), 0.0)
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            name = names.get(series.partition("{")[0])
            if name is not None:
                values[name] += float(value)
    return values


def print_progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print()
    print(title)
    for index, row in enumerate(cells):
        print("  " + "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the under-two-minutes version")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument("--output", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--data-dir", type=Path, default=Path(".releval/bench"))
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")

    from releval_judge.logs import configure_logging

    configure_logging("console", "warning")
    print(
        f"releval-judge benchmarks ({mode.name}) on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    began = time.perf_counter()
    started_at = datetime.now(UTC).isoformat()
    load_before = os.getloadavg()[0]
    token = new_token()
    async with (
        database(args.data_dir) as db,
        service(db, args.data_dir, token) as svc,
        ApiClient(svc.url, token, timeout_s=7200) as api,
    ):
        bench = Bench(mode, api, svc, db, args.data_dir)
        steps: dict[str, Callable[[], Awaitable[None]]] = {
            "efficiency": bench.efficiency,
            "roles": bench.roles,
            "cpu": bench.cpu,
            "big": bench.big,
            "cancel": bench.cancel,
            "rate_limits": bench.rate_limits,
            "key_concurrency": bench.key_concurrency,
            "tokens": bench.tokens,
            "cost": bench.cost,
            "answer_cap": lambda: answer_cap.scenario(bench.results, api, svc),
            "slow_clients": lambda: slow_clients.scenario(bench.results, svc, db, requests=100),
        }
        for name in SCENARIOS:
            if name in chosen:
                await steps[name]()
    elapsed = time.perf_counter() - began
    results = {
        "meta": {
            "mode": mode.name,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "database": "RELEVAL_DATABASE_URL"
            if "RELEVAL_DATABASE_URL" in os.environ
            else "embedded",
            "started_at": started_at,
            # Other work on the machine skews every figure: the 1-minute load at the start.
            "load_average_at_start": load_before,
            "elapsed_s": elapsed,
            "mode_settings": {k: v for k, v in asdict(mode).items() if not callable(v)},
        },
        **bench.results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{elapsed:.0f} s in all; figures in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
