"""The CPU a batch's prompt costs: ``python -m bench.render``. Figures, never a pass/fail.

A batch of 10 candidates (about 1,000 characters of text and three fields each), the default
template, rendered 7 × 2,048 times; the minimum CPU time (user + system of this process)
per batch:

- in the render's thread: ``engine.answers._render_batch`` (documents cut to the judge's
  rules, the sandbox's limits, the prompt counted against its cap as it is produced);
- the whole path of a judging run: ``render_batch`` from 128 tasks at once, through a
  ``TemplateRenderer`` of one thread (the hop to the thread and back included).
"""

from __future__ import annotations

import asyncio
import time
import timeit
from dataclasses import dataclass, field
from typing import Any

from releval_judge.engine.answers import _render_batch, render_batch
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.models import JudgeConfig
from releval_judge.prompt import TemplateLimits
from releval_judge.scale import Scale

RENDERS = 2048
REPEATS = 7
TASKS = 128
TEXT = "wireless over-ear headphones with noise cancelling & 30 hours of battery <b> " * 12


@dataclass(frozen=True)
class Candidate:
    query: str
    rank: int
    doc_id: str
    title: str | None
    text: str | None
    fields: dict[str, Any] = field(default_factory=dict)


BATCH = [
    Candidate(
        "wireless headphones",
        rank,
        f"doc-{rank}",
        f"Acme model {rank} headphones",
        TEXT,
        {"brand": "Acme", "price": 59.9 + rank, "tags": ["audio", "bluetooth"]},
    )
    for rank in range(1, 11)
]
SCALE = Scale(min=0, max=3, labels={0: "bad", 1: "fair", 2: "good", 3: "perfect"})
CONFIG = JudgeConfig.model_validate({"name": "bench", "provider": "openai", "model": "m"})


async def main() -> None:
    renderer = TemplateRenderer(TemplateLimits(), threads=1)
    try:
        template = await renderer.judge_prompt(None)
        in_thread = timeit.repeat(
            lambda: _render_batch(template, BATCH, SCALE, CONFIG),
            number=RENDERS,
            repeat=REPEATS,
            timer=time.process_time,
        )
        print(f"in the render's thread: {min(in_thread) / RENDERS * 1e6:.1f} µs CPU a batch")

        async def renders(count: int) -> None:
            for _ in range(count):
                await render_batch(renderer, template, BATCH, SCALE, CONFIG)

        spent = []
        for _ in range(REPEATS):
            began = time.process_time()
            await asyncio.gather(*(renders(RENDERS // TASKS) for _ in range(TASKS)))
            spent.append(time.process_time() - began)
        per_batch = min(spent) / (RENDERS // TASKS * TASKS) * 1e6
        print(f"through the renderer, {TASKS} tasks at once: {per_batch:.1f} µs CPU a batch")
    finally:
        renderer.close()


if __name__ == "__main__":
    asyncio.run(main())
