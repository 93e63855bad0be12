"""Scenario 5, ``--only rate_limits``: a simulator limit of 600 requests a minute, with the
judge's ``requests_per_minute`` set, with adaptation alone, and with two replicas on one
provider key sharing the budget in PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.context import Bench, until_idle
from bench.modes import BATCH, LATENCY_MS
from bench.report import print_progress, table


async def scenario(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    limit = 600
    concurrency = 32
    seconds = bench.mode.rate_limit_s
    for label, extra in (
        ("requests_per_minute=600", {"requests_per_minute": limit}),
        ("adaptation alone", {}),
    ):
        # A fresh simulator each time: its 60-s window starts empty.
        async with bench.sim(requests_per_minute=limit) as sim:
            evaluation_id, _ = await bench.evaluation(bench.mode.rate_limit_candidates)
            judge_id = await bench.judge(sim, concurrency=concurrency, **extra)
            run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse="none")
            await asyncio.sleep(seconds)
            await bench.api.cancel_judging_run(run.id)
            await until_idle(sim)
            stats = await sim.stats()
            final = await bench.api.get_judging_run(run.id)
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
    rows.append(await _two_replicas_on_one_key(bench, limit, concurrency, seconds))
    bench.results["rate_limits"] = {
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
        print("  (shorter than the simulator's 60-s window: `make bench` shows the steady state)")


async def _two_replicas_on_one_key(
    bench: Bench, limit: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Two service processes on one database, each judging with a judge on the same
    provider key at `requests_per_minute=limit`: the budget they share in PostgreSQL."""
    stats, judged = await bench.replicas_on_one_key(
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


def _busiest_window(times: list[float], window_s: float = 60.0) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best
