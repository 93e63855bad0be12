"""A judge test: grade a few candidates the way a judging run would, and write nothing.

The same path as a live judging run (``engine/live_delivery.py``): the candidates go
through the judge's document rules (``documents.prompt_candidate``), are batched by query,
rendered with the judge's template, sent with the judge's retry policy
(``call_with_retries``) and parsed with ``parse_answer``. What differs: everything is
returned (prompts, raw answers) rather than written, and an error that would fail a whole
run (authentication, unknown model, exhausted quota) fails the test with
:class:`ProviderFailed` (HTTP 502).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from releval_judge.engine.answers import render_batch
from releval_judge.engine.batching import batched
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.errors import ProviderFailed, ValidationFailed
from releval_judge.models import (
    Cost,
    JudgeConfig,
    JudgeTestCall,
    JudgeTestItem,
)
from releval_judge.parse import parse_answer
from releval_judge.prompt import TemplateError, TemplateLimitError
from releval_judge.providers import BadRequest, Prompt, Provider, ProviderError
from releval_judge.providers.retry import CallCancelled, RetriesExhausted, call_with_retries
from releval_judge.scale import Scale
from releval_judge.store.batches import PendingCandidate

log = structlog.get_logger(__name__)

DEADLINE_S: Final = 120.0
"""A test is a synchronous request: past this, no new attempt starts (429s never end)."""


@dataclass(frozen=True)
class TrialCandidate:
    """One candidate to grade: from an evaluation run (with ids) or given inline."""

    query: str
    rank: int
    title: str | None
    text: str | None
    doc_id: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    candidate_id: str | None = None
    query_id: str = ""
    """"" for inline candidates (one query, no id)."""
    human_grade: int | None = None
    given_doc_id: str | None = None


def trial_candidate(c: PendingCandidate, *, human_grade: int | None = None) -> TrialCandidate:
    """A candidate of an evaluation run to grade (drawn for a judge test or an audit)."""
    return TrialCandidate(
        query=c.query,
        rank=c.rank,
        title=c.title,
        text=c.text,
        doc_id=c.doc_id,
        fields=c.fields,
        candidate_id=str(c.id),
        query_id=c.query_id,
        human_grade=human_grade,
        given_doc_id=c.doc_id,
    )


@dataclass
class TrialOutcome:
    calls: list[JudgeTestCall]
    results: list[JudgeTestItem]

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.calls)


BatchAnswered = Callable[[int, JudgeTestCall, list[JudgeTestItem]], Awaitable[None]]
"""Told each batch's call and results as soon as it is answered (by its index)."""


def batches_of(candidates: Sequence[TrialCandidate], batch_size: int) -> list[list[TrialCandidate]]:
    """Group by query (a batch never mixes queries), ``batch_size`` at most, rank order."""
    return batched(sorted(candidates, key=lambda c: (c.query_id, c.rank)), batch_size)


async def run_trial(
    *,
    config: JudgeConfig,
    provider: Provider,
    candidates: Sequence[TrialCandidate],
    scale: Scale,
    process_calls: asyncio.Semaphore,
    templates: TemplateRenderer,
    deadline_s: float = DEADLINE_S,
) -> TrialOutcome:
    """Grade ``candidates`` with the judge; raises ProviderFailed on a run-fatal error, and
    ValidationFailed (422) when the judge's template meets a limit on these candidates
    (a judging run would fail alike): nothing is sent then."""
    return await judge_batches(
        config=config,
        provider=provider,
        batches=batches_of(candidates, config.batch_size),
        scale=scale,
        process_calls=process_calls,
        templates=templates,
        deadline_s=deadline_s,
    )


async def judge_batches(
    *,
    config: JudgeConfig,
    provider: Provider,
    batches: Sequence[Sequence[TrialCandidate]],
    scale: Scale,
    process_calls: asyncio.Semaphore,
    templates: TemplateRenderer,
    deadline_s: float,
    on_batch: BatchAnswered | None = None,
) -> TrialOutcome:
    """Grade ``batches`` as given (each one prompt, its candidates in that order, each of
    one query) the way :func:`run_trial` grades its candidates, with the same errors; an
    audit composes its batches itself (``engine.audits``) and keeps each answered batch
    through ``on_batch`` (awaited before the next batch of that slot starts). No new
    attempt starts after ``deadline_s``."""
    try:
        template = await templates.judge_prompt(config.prompt_template)
    except TemplateLimitError as exc:
        raise _over_limit(exc) from exc
    except TemplateError as exc:
        raise ProviderFailed(f"prompt_template does not compile: {exc}") from exc
    # Every prompt first: a template over a limit on any batch fails the test before
    # anything is sent, as it would fail a judging run.
    prompts: list[Prompt | TemplateError] = []
    for batch in batches:
        try:
            prompts.append(await render_batch(templates, template, batch, scale, config))
        except TemplateLimitError as exc:
            raise _over_limit(exc) from exc
        except TemplateError as exc:
            prompts.append(exc)
    stop = asyncio.Event()
    timer = asyncio.get_running_loop().call_later(deadline_s, stop.set)
    slots = asyncio.Semaphore(config.concurrency)
    calls: list[JudgeTestCall | None] = [None] * len(batches)
    results: list[list[JudgeTestItem]] = [[] for _ in batches]

    async def one(index: int, batch: Sequence[TrialCandidate]) -> None:
        async with slots, process_calls:
            call, items = await _judge_batch(
                index, batch, prompts[index], config, provider, scale, stop, deadline_s
            )
            calls[index], results[index] = call, items
            if on_batch is not None:
                await on_batch(index, call, items)

    try:
        async with asyncio.TaskGroup() as group:
            for index, batch in enumerate(batches):
                group.create_task(one(index, batch), name=f"judge-test-batch-{index}")
    except BaseExceptionGroup as group_error:
        failed = group_error.subgroup(ProviderFailed)
        if failed is not None:
            raise failed.exceptions[0] from None
        raise
    finally:
        timer.cancel()
    return TrialOutcome(
        calls=[c for c in calls if c is not None],
        results=[item for batch_items in results for item in batch_items],
    )


async def _judge_batch(
    index: int,
    batch: Sequence[TrialCandidate],
    prompt: Prompt | TemplateError,
    config: JudgeConfig,
    provider: Provider,
    scale: Scale,
    stop: asyncio.Event,
    deadline_s: float,
) -> tuple[JudgeTestCall, list[JudgeTestItem]]:
    ordinals = {str(i + 1): c for i, c in enumerate(batch)}
    first = batch[0]

    def call(
        prompt: str, raw: str | None, tokens: tuple[int, int], error: str | None
    ) -> JudgeTestCall:
        return JudgeTestCall(
            query_id=first.query_id or None,
            query=first.query,
            candidates=len(batch),
            prompt=prompt,
            raw_answer=raw,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            error=error,
        )

    def all_failed(reason: str) -> list[JudgeTestItem]:
        return [_item(index, c, scale, failure=reason) for c in batch]

    if isinstance(prompt, TemplateError):
        reason = f"prompt template failed: {prompt}"
        return call("", None, (0, 0), reason), all_failed(reason)
    try:
        completion = await call_with_retries(
            provider, prompt, max_retries=config.max_retries, stop=stop
        )
    except CallCancelled:
        reason = (
            f"no answer within the test's {deadline_s:g} s (the provider kept rate limiting "
            "or failing)"
        )
        return call(prompt.text, None, (0, 0), reason), all_failed(reason)
    except RetriesExhausted as exc:
        reason = f"provider unavailable: {exc}"
        return call(prompt.text, None, (0, 0), reason), all_failed(reason)
    except BadRequest as exc:
        reason = f"provider rejected the batch: {exc.message}"
        return call(prompt.text, None, (0, 0), reason), all_failed(reason)
    except ProviderError as exc:
        log.info("judge_test_failed", error=exc.message, status=exc.status)
        raise ProviderFailed(exc.message, status=exc.status) from exc
    parsed = parse_answer(completion.text, list(ordinals), scale)
    items = []
    for ordinal, candidate in ordinals.items():
        judgment = parsed.judgments.get(ordinal)
        if judgment is None:
            items.append(_item(index, candidate, scale, failure=parsed.failures[ordinal]))
        else:
            items.append(
                _item(index, candidate, scale, grade=judgment.grade, reasoning=judgment.reasoning)
            )
    tokens = (completion.input_tokens, completion.output_tokens)
    return call(prompt.text, completion.text, tokens, None), items


def _over_limit(exc: TemplateLimitError) -> ValidationFailed:
    return ValidationFailed(
        f"prompt_template is over a limit: {exc}",
        details=[{"loc": ["ai_judge", "prompt_template"], "msg": exc.message, "line": exc.line}],
    )


def _item(
    index: int,
    candidate: TrialCandidate,
    scale: Scale,
    *,
    grade: int | None = None,
    reasoning: str | None = None,
    failure: str | None = None,
) -> JudgeTestItem:
    return JudgeTestItem(
        call=index,
        candidate_id=candidate.candidate_id,
        query_id=candidate.query_id or None,
        doc_id=candidate.given_doc_id,
        rank=candidate.rank,
        title=candidate.title,
        grade=grade,
        label=None if grade is None else scale.label(grade),
        reasoning=reasoning,
        failure=failure,
        human_grade=candidate.human_grade,
    )


def trial_cost(config: JudgeConfig, outcome: TrialOutcome) -> Cost | None:
    return Cost.of(
        outcome.input_tokens,
        outcome.output_tokens,
        config.input_price_per_mtok,
        config.output_price_per_mtok,
    )
