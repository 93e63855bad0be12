"""Scenario 1, ``--only efficiency``: achieved candidates/s ÷ ideal (concurrency × batch ÷
latency) at 200 ms, batch 10, concurrency 8/32/128; against a bare aiohttp client's
ceiling on the same simulator; the service's CPU per candidate."""

from __future__ import annotations

from typing import Any

import aiohttp

from bench.context import Bench, RunMeasure
from bench.modes import BATCH, LATENCY_MS
from bench.report import median, print_progress, table


async def scenario(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    async with bench.sim() as sim:
        for concurrency in (8, 32, 128):
            candidates = bench.mode.efficiency_candidates(concurrency)
            ideal = concurrency * BATCH / (LATENCY_MS / 1000)
            runs: list[RunMeasure] = []
            bare_rates: list[float] = []
            before = await service_counters(bench.svc.url)
            for _ in range(bench.mode.efficiency_runs):
                run, bare = await bench.run_and_bare(sim, candidates, concurrency)
                runs.append(run)
                bare_rates.append(bare.calls_per_s * BATCH)
            after = await service_counters(bench.svc.url)
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
                    "service_cpu_us_per_candidate": median([r.cpu_us_per_candidate for r in runs]),
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
    bench.results["efficiency"] = {"latency_ms": LATENCY_MS, "batch_size": BATCH, "rows": rows}
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
