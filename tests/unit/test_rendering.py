"""Templates render in the renderer's own threads, and a render past its time limit is
stopped: the event loop never waits for a template, and a runaway one frees its thread."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from releval_judge.engine.answers import render_batch
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.models import JudgeConfig
from releval_judge.prompt import (
    JudgePrompt,
    PromptCandidate,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
)
from releval_judge.providers import Prompt
from releval_judge.scale import Scale

LIMITS = TemplateLimits(timeout_s=0.2, max_prompt_bytes=1_000_000)
SCALE = Scale(min=0, max=3)
# No output at all: only the time limit can stop these.
NESTED_RANGES = (
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
DOCUMENT_TWICE = (
    "Grade these.\n{% for c in candidates %}\n"
    "{% for x in c.text or '' %}{% for y in c.text or '' %}{% endfor %}{% endfor %}{% endfor %}"
)


@dataclass(frozen=True)
class Candidate:
    query: str
    rank: int
    doc_id: str
    title: str | None
    text: str | None
    fields: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
async def renderer() -> AsyncIterator[TemplateRenderer]:
    # One thread: the next render can only run if the stopped one gave its thread back.
    templates = TemplateRenderer(LIMITS, threads=1)
    yield templates
    templates.close()


async def render(renderer: TemplateRenderer, prompt: JudgePrompt, text: str = "short") -> Prompt:
    candidates = [PromptCandidate(id="1", rank=1, doc_id="d1", text=text)]
    return await renderer.run(
        functools.partial(prompt.render, query="q", candidates=candidates, scale=SCALE)
    )


async def test_a_render_without_output_is_stopped_and_its_thread_freed(
    renderer: TemplateRenderer,
) -> None:
    for _ in range(3):
        with pytest.raises(TemplateLimitError) as caught:
            await renderer.judge_prompt(NESTED_RANGES)
        assert str(caught.value) == (
            "line 1: the prompt template took longer than 0.2 s to compile and render its "
            "sample batches (RELEVAL_TEMPLATE_TIMEOUT_S)"
        )

        prompt = await renderer.judge_prompt("{{ query }}: {{ candidates[0].text }}")
        assert (await render(renderer, prompt)).text == "q: short"


async def test_a_loop_over_a_long_document_twice_is_stopped_on_real_data(
    renderer: TemplateRenderer,
) -> None:
    # Fine on the samples' short documents; not on a 1 MB one.
    prompt = await renderer.judge_prompt(DOCUMENT_TWICE)

    with pytest.raises(TemplateLimitError) as caught:
        await render(renderer, prompt, text="x" * 1_000_000)

    assert "took longer than 0.2 s to render one batch (RELEVAL_TEMPLATE_TIMEOUT_S)" in str(
        caught.value
    )
    assert caught.value.line == 3  # where it was when stopped
    assert (await render(renderer, prompt)).text == "Grade these.\n\n"


async def test_the_event_loop_runs_on_while_a_template_renders(
    renderer: TemplateRenderer,
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(TemplateLimitError):
            await renderer.judge_prompt(NESTED_RANGES)
        during = ticks
    finally:
        ticker.cancel()

    assert during > 1  # on the loop, the render would have held it until it was stopped


async def test_renders_in_progress_are_stopped_one_by_one() -> None:
    templates = TemplateRenderer(LIMITS, threads=3)
    try:
        outcomes = await asyncio.gather(
            *(templates.judge_prompt(NESTED_RANGES) for _ in range(4)),
            templates.judge_prompt("{{ query }}"),
            return_exceptions=True,
        )
    finally:
        templates.close()

    assert all(isinstance(o, TemplateLimitError) for o in outcomes[:4]), outcomes
    assert isinstance(outcomes[4], JudgePrompt)


async def test_other_errors_pass_through(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match="unexpected '}'") as caught:
        await renderer.judge_prompt("{{ query }")

    assert not isinstance(caught.value, TemplateLimitError)


async def test_once_a_batch_met_the_time_limit_the_next_ones_fail_without_rendering(
    renderer: TemplateRenderer,
) -> None:
    # A run's other batches, queued behind the first, must not each spend the time limit.
    config = JudgeConfig.model_validate({"name": "j", "provider": "openai", "model": "m"})
    prompt = await renderer.judge_prompt(DOCUMENT_TWICE)
    short = [Candidate("q", 1, "d1", None, "short")]
    assert (await render_batch(renderer, prompt, short, SCALE, config)).text == "Grade these.\n\n"

    with pytest.raises(TemplateLimitError):
        await render_batch(
            renderer, prompt, [Candidate("q", 1, "d1", None, "x" * 10**6)], SCALE, config
        )
    with pytest.raises(TemplateLimitError, match="RELEVAL_TEMPLATE_TIMEOUT_S"):
        await render_batch(renderer, prompt, short, SCALE, config)
