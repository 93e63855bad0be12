"""Scenario 5b, ``--only key_concurrency``: two replicas on one provider key with a
``key_concurrency`` budget: the provider's peak of calls in flight and how busy the budget
kept the key."""

from __future__ import annotations

from bench.context import Bench
from bench.modes import BATCH, LATENCY_MS
from bench.report import print_progress, table


async def scenario(bench: Bench) -> None:
    """Two replicas on one key whose judges allow 32 calls each, under a key budget of
    `key_concurrency` calls in flight: the provider's peak, and how busy the key was."""
    slots, concurrency = 16, 32
    seconds = bench.mode.key_concurrency_s
    stats, judged = await bench.replicas_on_one_key(
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
    bench.results["key_concurrency"] = {"latency_ms": LATENCY_MS, "batch": BATCH, **row}
    print_progress(f"key concurrency: peak {stats.concurrent_peak} of {slots}")
    table(
        f"5b. Key concurrency: 2 replicas, concurrency {concurrency} each, one key with "
        f"key_concurrency {slots}, {seconds:.0f} s at {LATENCY_MS:.0f} ms",
        ["provider peak in flight", "calls", "judged", "judged ÷ key-bound ideal"],
        [[stats.concurrent_peak, stats.calls, judged, f"{row['key_efficiency']:.3f}"]],
    )
