"""Scenario 10, ``--only audit``: what an audit costs against judging (issue 26's target: an
audit of 100 candidates makes at most 2.2 × the calls of judging them).

A run judges 100 candidates (10 queries × 10, batch 10) on the simulator; an audit of that
run with ``sample_size: 100`` re-judges them twice (the same order, each batch reversed).
The simulator counts the calls of each (``/stats``); the audit's tokens and cost come from
its own answer. Latency 50 ms: the figure is calls, not time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.context import Bench
from bench.report import table

CANDIDATES = 100
PRICES: dict[str, Any] = {"input_price_per_mtok": 2.0, "output_price_per_mtok": 8.0}


async def scenario(bench: Bench) -> None:
    evaluation_id, _ = await bench.evaluation(CANDIDATES)
    async with bench.sim(latency_ms=50.0) as sim:
        judge_id = await bench.judge(sim, concurrency=4, temperature=0, **PRICES)
        calls_0 = (await sim.stats()).calls
        run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse="none")
        run = await bench.api.watch(run.id, min_interval_s=0.1, max_interval_s=0.5)
        calls_1 = (await sim.stats()).calls
        audit = await bench.api.start_audit(run.id, sample_size=CANDIDATES, seed=1)
        async with asyncio.timeout(300):
            audit = await bench.api.wait_audit(audit.id, interval_s=0.2, max_interval_s=1.0)
        calls_2 = (await sim.stats()).calls
    judging_calls, audit_calls = calls_1 - calls_0, calls_2 - calls_1
    run_cost = run.cost.total if run.cost is not None else None
    audit_cost = audit.cost.total if audit.cost is not None else None
    result = {
        "candidates": CANDIDATES,
        "judging_calls": judging_calls,
        "audit_calls": audit_calls,
        "calls_ratio": audit_calls / judging_calls,
        "audit_status": audit.status,
        "audit_sample_size": audit.sample_size,
        "audit_reported_calls": audit.calls,
        "run_cost": run_cost,
        "audit_cost": audit_cost,
        "verdict": audit.verdict,
    }
    bench.results["audit"] = result
    table(
        f"10. An audit of {CANDIDATES} candidates against judging them (batch 10, 50 ms)",
        ["what", "calls", "cost", "× judging (calls)"],
        [
            ["judging run", str(judging_calls), f"{run_cost:.4f}" if run_cost else "-", "1"],
            [
                f"audit ({audit.status}, {audit.verdict})",
                str(audit_calls),
                f"{audit_cost:.4f}" if audit_cost else "-",
                f"{audit_calls / judging_calls:.2f}",
            ],
        ],
    )
