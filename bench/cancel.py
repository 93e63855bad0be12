"""Scenario 4, ``--only cancel``: provider calls started after the cancel response (must be
0), and how long until the calls in flight are done."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import Bench, until_idle
from bench.modes import BATCH, LATENCY_MS
from bench.report import median, table


async def scenario(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    concurrency = 32
    async with bench.sim() as sim:
        for _ in range(bench.mode.cancel_runs):
            evaluation_id, _ = await bench.evaluation(bench.mode.cancel_candidates)
            judge_id = await bench.judge(sim, concurrency=concurrency)
            await sim.reset()
            run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse="none")
            # Let it reach full speed first: about a second of calls.
            while (await bench.api.get_judging_run(run.id)).judged < concurrency * BATCH * 4:
                await asyncio.sleep(0.05)
            in_flight = (await sim.stats()).in_flight
            asked = time.time()
            response = await bench.api.cancel_judging_run(run.id)
            answered = time.time()
            drained = await until_idle(sim)
            stats = await sim.stats()
            late = [t for t in stats.call_times if t > answered]
            during = [t for t in stats.call_times if asked < t <= answered]
            await asyncio.sleep(0.3)
            final = await bench.api.get_judging_run(run.id)
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
        "calls_in_flight_at_cancel_median": median([r["calls_in_flight_at_cancel"] for r in rows]),
        "runs": rows,
    }
    bench.results["cancel"] = summary
    table(
        f"4. Cancel during a run (conc {concurrency}, {LATENCY_MS:.0f} ms; must be 0 calls after)",
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
