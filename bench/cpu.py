"""Scenario 2, ``--only cpu``: the service's CPU per judged candidate at zero latency (and
the database's), against a bare client's."""

from __future__ import annotations

from bench.context import Bench, RunMeasure
from bench.modes import BATCH
from bench.report import median, table


async def scenario(bench: Bench) -> None:
    concurrency = 32
    candidates = bench.mode.cpu_candidates
    runs: list[RunMeasure] = []
    bare_cpu: list[float] = []
    async with bench.sim(latency_ms=0.0) as sim:
        for _ in range(bench.mode.cpu_runs):
            run, bare = await bench.run_and_bare(sim, candidates, concurrency)
            runs.append(run)
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
    bench.results["cpu_zero_latency"] = result
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
