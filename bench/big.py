"""Scenario 3, ``--only big``: a 1,000,000-candidate run (quick: 50,000): import time and
throughput, the service's peak memory while importing and while judging, the start call's
latency, and p50/p99 of ``GET /ai-judging-runs/{id}`` while the run goes on."""

from __future__ import annotations

import asyncio
import time

from bench.context import Bench, dispatch_seconds
from bench.harness import RssSampler
from bench.modes import LATENCY_MS
from bench.report import percentile, table
from releval_judge.models import JudgingRun

MB = 1024 * 1024


async def scenario(bench: Bench) -> None:
    candidates = bench.mode.big_candidates
    concurrency = 128
    rss_before = bench.svc.child.rss_bytes()
    async with RssSampler(bench.svc.child) as import_rss:
        evaluation_id, import_s = await bench.evaluation(candidates)
    async with bench.sim() as sim:
        judge_id = await bench.judge(sim, concurrency=concurrency)
        service_cpu = bench.svc.child.cpu_s()
        async with RssSampler(bench.svc.child) as run_rss:
            started = time.perf_counter()
            run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse="none")
            start_call_ms = 1000 * (time.perf_counter() - started)
            get_ms, final, cancelled = await _poll_latencies(bench, run)
        cpu_s = bench.svc.child.cpu_s() - service_cpu
    done = final.judged + final.failed
    dispatch = dispatch_seconds(final)
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
        "stopped_after_s": bench.mode.big_max_run_s if cancelled else None,
        "judging_per_s": done / dispatch if dispatch > 0 else None,
        "service_cpu_us_per_candidate": 1e6 * cpu_s / max(done, 1),
    }
    bench.results["big_run"] = result
    note = (
        f" (stopped after {bench.mode.big_max_run_s:.0f} s: {done:,} of {candidates:,} done)"
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


async def _poll_latencies(bench: Bench, run: JudgingRun) -> tuple[list[float], JudgingRun, bool]:
    """GET the run about five times a second until it ends (or the time cap cancels
    it); the latency of every GET made while it was queued or running."""
    latencies: list[float] = []
    deadline = time.monotonic() + bench.mode.big_max_run_s
    cancelled = False
    while True:
        started = time.perf_counter()
        current = await bench.api.get_judging_run(run.id)
        if current.status in ("queued", "running"):
            latencies.append(1000 * (time.perf_counter() - started))
        else:
            return latencies, current, cancelled
        if not cancelled and time.monotonic() > deadline:
            await bench.api.cancel_judging_run(run.id)
            cancelled = True
        await asyncio.sleep(0.2)
