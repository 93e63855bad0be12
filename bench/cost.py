"""Scenario 7, ``--only cost``: cost per 1,000 judgments, live and batch delivery, each priced
without and with the cached-input price."""

from __future__ import annotations

from typing import Any

from bench.context import Bench
from bench.modes import BATCH
from bench.report import table
from releval_judge.models import Prices
from releval_judge.prompt import DEFAULT_TEMPLATE

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


async def scenario(bench: Bench) -> None:
    """Cost per 1,000 judgments: live and batch delivery of the same candidates with a
    judge whose template starts with ~1,500 tokens of fixed guidelines, each priced
    without and with the cached-input price (same prices otherwise)."""
    candidates = bench.mode.cost_candidates
    prices = Prices(input_per_mtok=2.0, cached_input_per_mtok=0.5, output_per_mtok=8.0)
    uncached = Prices(input_per_mtok=2.0, output_per_mtok=8.0)
    rows: list[dict[str, Any]] = []
    for delivery in ("live", "batch"):
        # A simulator of its own per run: the second run must not find the first's
        # prompts in the provider's cache.
        async with bench.sim(latency_ms=50.0, batch_completion_s=5.0) as sim:
            evaluation_id, _ = await bench.evaluation(candidates)
            judge_id = await bench.judge(
                sim,
                concurrency=32,
                prompt_template=GUIDELINES + DEFAULT_TEMPLATE,
                delivery=delivery,
                input_price_per_mtok=prices.input_per_mtok,
                cached_input_price_per_mtok=prices.cached_input_per_mtok,
                output_price_per_mtok=prices.output_per_mtok,
            )
            run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse="none")
            final = await bench.api.watch(run.id, min_interval_s=0.25, max_interval_s=1.0)
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
    bench.results["cost"] = {
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
