"""Cost before spending: what a judging run would send, without calling the provider.

Candidates and batches are counted exactly (batches per query are ``ceil(n / batch_size)``,
as the engine never mixes queries). Input tokens come from rendering real batches with the
judge's template and document rules: every batch when the scope holds at most
:data:`SAMPLE_CANDIDATES` candidates, otherwise the batches of queries drawn at random until
that many candidates are rendered, the mean prompt length per batch then multiplied by the
number of batches. Characters become tokens at :data:`CHARS_PER_TOKEN` (no tokenizer: OpenAI's
``tiktoken`` downloads its encodings at run time and Anthropic's is not public). Output tokens
are the judge's own average over its earlier runs, or :data:`OUTPUT_TOKENS_PER_CANDIDATE`.

With reuse (``reuse: "fingerprint"``, the default of a run), the candidates rendered are
fingerprinted as a run would (``engine.fingerprints``) and those an earlier judgment answers
are counted as ``reusable`` (exactly, or in the same proportion as in the sample) and left
out: the batches, tokens and cost cover only the rest.
"""

from __future__ import annotations

import math
from typing import Final

from releval_judge.engine.answers import render_batch
from releval_judge.engine.batching import batched
from releval_judge.engine.fingerprints import Fingerprinter, shown_keys
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.errors import ValidationFailed
from releval_judge.models import (
    DeliveryCosts,
    Estimate,
    EvaluationRun,
    JudgeConfig,
    JudgingRunScope,
    ReuseMode,
)
from releval_judge.prompt import (
    DEFAULT_TEMPLATE,
    TemplateError,
    TemplateLimitError,
    stable_prefix,
)
from releval_judge.providers.anthropic import CACHE_MIN_TOKENS
from releval_judge.scale import Scale
from releval_judge.store.review import ReviewStore
from releval_judge.store.store import PendingCandidate

SAMPLE_CANDIDATES: Final = 2000
MAX_SAMPLE_QUERIES: Final = 2000
CHARS_PER_TOKEN: Final = 4
OUTPUT_TOKENS_PER_CANDIDATE: Final = 60
"""A ``<candidate>`` block with a grade and one or two sentences of reasoning."""

SEED: Final = 0
"""Estimates are repeatable: the same run, judge and scope give the same figures."""


async def estimate_run(
    review: ReviewStore,
    evaluation: EvaluationRun,
    judge_id: str,
    config: JudgeConfig,
    scope: JudgingRunScope,
    templates: TemplateRenderer,
    reuse: ReuseMode = "fingerprint",
) -> Estimate:
    totals = await review.scope_totals(evaluation.id, scope, config.batch_size)
    chosen: list[str] = []
    if totals.queries:
        sample = await review.scope_query_sample(
            evaluation.id, scope, seed=SEED, limit=min(totals.queries, MAX_SAMPLE_QUERIES)
        )
        taken = 0
        for query in sample:
            if taken >= SAMPLE_CANDIDATES:
                break
            chosen.append(query.query_id)
            taken += query.candidates
    candidates = await review.scope_candidates(evaluation.id, scope, chosen) if chosen else []
    rest = candidates
    if reuse == "fingerprint" and candidates:
        rest = await _not_reusable(review, templates, candidates, config, evaluation.scale)
    try:
        chars, rendered_batches, rendered_candidates, failures = await _render(
            templates, rest, config, evaluation
        )
    except TemplateLimitError as exc:
        # The run would fail on its first batch: say so rather than estimate its cost.
        raise ValidationFailed(
            f"prompt_template is over a limit: {exc}",
            details=[
                {"loc": ["ai_judge", "prompt_template"], "msg": exc.message, "line": exc.line}
            ],
        ) from exc
    extrapolated = len(chosen) < totals.queries
    # What reuse leaves to send, in the sample's proportions (exact when it is every query).
    reusable, batches = 0, totals.batches
    if rest is not candidates:
        sampled_batches = len(batched(candidates, config.batch_size))
        reusable = round(totals.candidates * (len(candidates) - len(rest)) / len(candidates))
        batches = round(
            totals.batches * len(batched(rest, config.batch_size)) / max(sampled_batches, 1)
        )
    to_judge = totals.candidates - reusable
    # The mean prompt per batch times the batches: exact when every batch was rendered.
    input_chars = chars * batches / rendered_batches if rendered_batches else 0
    input_tokens = math.ceil(input_chars / CHARS_PER_TOKEN)

    per_candidate, history = await review.output_tokens_per_candidate(judge_id)
    if per_candidate is not None:
        output_method = (
            f"{per_candidate:.1f} output tokens per candidate, the judge's average over "
            f"{history} candidates of its earlier runs"
        )
    else:
        per_candidate = float(OUTPUT_TOKENS_PER_CANDIDATE)
        output_method = (
            f"{OUTPUT_TOKENS_PER_CANDIDATE} output tokens per candidate (one <candidate> block "
            "with a short reasoning); the judge has no earlier run to learn from"
        )
    output_tokens = math.ceil(per_candidate * to_judge)
    if config.max_output_tokens is not None:
        output_tokens = min(output_tokens, config.max_output_tokens * batches)

    prefix_tokens = math.ceil(
        len(stable_prefix(config.prompt_template or DEFAULT_TEMPLATE)) / CHARS_PER_TOKEN
    )
    # A prompt cache serves the stable prefix of every call after the first, when the prefix
    # is long enough to be cached at all.
    cached_tokens = prefix_tokens * max(batches - 1, 0) if prefix_tokens >= CACHE_MIN_TOKENS else 0
    cached_tokens = min(cached_tokens, input_tokens)
    costs = _costs(config, input_tokens, cached_tokens, output_tokens)

    input_method = f"characters/{CHARS_PER_TOKEN} of the rendered prompts"
    if extrapolated:
        input_method += (
            f", {rendered_batches} batches of {len(chosen)} random queries rendered and "
            f"scaled to {batches} batches"
        )
    return Estimate(
        evaluation_run_id=evaluation.id,
        ai_judge_id=judge_id,
        ai_judge_name=config.name,
        model=config.model,
        scope=scope,
        queries=totals.queries,
        candidates=totals.candidates,
        batch_size=config.batch_size,
        batches=batches,
        reuse=reuse,
        reusable=reusable,
        estimated_input_tokens=input_tokens,
        input_token_method=input_method,
        expected_output_tokens=output_tokens,
        output_token_method=output_method,
        extrapolated=extrapolated,
        rendered_batches=rendered_batches,
        rendered_candidates=rendered_candidates,
        template_failures=failures,
        input_price_per_mtok=config.input_price_per_mtok,
        output_price_per_mtok=config.output_price_per_mtok,
        cost=None if costs is None else (costs.batch if config.delivery == "batch" else costs.live),
        delivery=config.delivery,
        cached_input_price_per_mtok=config.cached_input_price_per_mtok,
        batch_price_factor=config.batch_price_factor,
        cacheable_prefix_tokens=prefix_tokens,
        estimated_cached_input_tokens=cached_tokens,
        costs=costs,
    )


async def _not_reusable(
    review: ReviewStore,
    templates: TemplateRenderer,
    candidates: list[PendingCandidate],
    config: JudgeConfig,
    scale: Scale,
) -> list[PendingCandidate]:
    """`candidates` without those an earlier judgment answers (as a run would find them);
    all of them when the template does not compile (the run would reuse nothing)."""
    try:
        template = await templates.judge_prompt(config.prompt_template)
        shown = await templates.run(
            shown_keys, config.prompt_template, template, what="render a probe batch"
        )
    except TemplateError:
        return candidates
    prepared = await Fingerprinter(config, scale, shown).prepare_all(candidates)
    found = await review.store.reusable_judgments(
        [p.fingerprint for p in prepared], judging_run_id=None
    )
    answered = {p.id for p in prepared if p.fingerprint in found}
    return [c for c in candidates if c.id not in answered]


def _costs(
    config: JudgeConfig, input_tokens: int, cached_tokens: int, output_tokens: int
) -> DeliveryCosts | None:
    prices = config.prices
    if prices is None:
        return None
    factor = config.batch_price_factor
    return DeliveryCosts(
        live=prices.cost(input_tokens, output_tokens),
        live_cached=prices.cost(input_tokens, output_tokens, cached_input_tokens=cached_tokens),
        batch=prices.cost(input_tokens, output_tokens, factor=factor),
        batch_cached=prices.cost(
            input_tokens, output_tokens, cached_input_tokens=cached_tokens, factor=factor
        ),
    )


async def _render(
    templates: TemplateRenderer,
    candidates: list[PendingCandidate],
    config: JudgeConfig,
    evaluation: EvaluationRun,
) -> tuple[int, int, int, int]:
    """Characters of every batch's prompt; batches, candidates rendered; batches that failed.
    Raises TemplateLimitError when the template meets a limit."""
    try:
        template = await templates.judge_prompt(config.prompt_template)
    except TemplateLimitError:
        raise
    except TemplateError:
        return 0, 0, 0, 1
    chars = rendered = rendered_candidates = failures = 0
    for batch in batched(candidates, config.batch_size):
        try:
            prompt = await render_batch(templates, template, batch, evaluation.scale, config)
        except TemplateLimitError:
            raise
        except TemplateError:
            failures += 1
            continue
        chars += len(prompt.text)
        rendered += 1
        rendered_candidates += len(batch)
    return chars, rendered, rendered_candidates, failures
