"""Scenario 6, ``--only tokens``: input and output tokens per judgment with the default
template, batch 1, 10 and 20."""

from __future__ import annotations

import json
from typing import Any

from bench.context import Bench
from bench.data import candidate_lines
from bench.report import table


async def scenario(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    candidates = bench.mode.token_candidates
    async with bench.sim(latency_ms=0.0) as sim:
        for batch_size in (1, 10, 20):
            evaluation_id, _ = await bench.evaluation(candidates)
            judge_id = await bench.judge(sim, concurrency=16, batch_size=batch_size)
            run = await bench.judge_run(evaluation_id, judge_id, sim)
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
    bench.results["tokens"] = {
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
