"""What a batch of candidates is sent as, and what its answer is written as: one prompt and
one outcome for a live call and for a provider batch's request alike, so that both ways of
delivery grade the same candidates the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol
from uuid import UUID

from releval_judge.documents import DocumentLike, prompt_candidate
from releval_judge.engine.fingerprints import Prepared
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.models import JudgeConfig
from releval_judge.parse import excerpt, parse_answer
from releval_judge.prompt import JudgePrompt, TemplateLimitError
from releval_judge.providers import Completion, Prompt
from releval_judge.scale import Scale
from releval_judge.store.store import BatchOutcome, FailureWrite, JudgmentWrite


class QueryCandidate(DocumentLike, Protocol):
    """A candidate with its query's text (every candidate of a batch has the same query)."""

    @property
    def query(self) -> str: ...


async def render_batch(
    templates: TemplateRenderer,
    template: JudgePrompt,
    batch: Sequence[QueryCandidate | Prepared],
    scale: Scale,
    config: JudgeConfig,
) -> Prompt:
    """The prompt of one batch of candidates (one query), numbered "1", "2", … in order,
    (a `Prepared` candidate is shown as its document, made once with its fingerprint),
    rendered in a thread of ``templates`` within its limits (one hop per batch). Raises
    `TemplateError` when the template fails for them, `TemplateLimitError` (a subclass)
    when it meets a limit: its time, the prompt's size, or a size the sandbox refuses; the
    later batches then fail alike without rendering."""
    try:
        return await templates.run(_render_batch, template, batch, scale, config)
    except TemplateLimitError as exc:
        template.over_limit(exc)
        raise


def _render_batch(
    template: JudgePrompt,
    batch: Sequence[QueryCandidate | Prepared],
    scale: Scale,
    config: JudgeConfig,
) -> Prompt:
    return template.render(
        query=batch[0].query,
        scale=scale,
        candidates=[
            c.numbered(str(i + 1))
            if isinstance(c, Prepared)
            else prompt_candidate(
                str(i + 1),
                c,
                max_document_chars=config.max_document_chars,
                fields=config.fields,
            )
            for i, c in enumerate(batch)
        ],
    )


def answer_outcome(
    completion: Completion,
    candidate_ids: Sequence[UUID],
    scale: Scale,
    *,
    request: str | None = None,
    fingerprints: Sequence[bytes] | None = None,
) -> BatchOutcome:
    """The judgments and per-candidate failures of an answer to the batch `candidate_ids`
    (in their prompt order; `fingerprints` theirs, in the same order, when known), with the
    tokens the provider billed for it."""
    ordinals = {str(i + 1): c for i, c in enumerate(candidate_ids)}
    prints = {str(i + 1): f for i, f in enumerate(fingerprints or ())}
    parsed = parse_answer(completion.text, list(ordinals), scale)
    raw = excerpt(completion.text)
    return BatchOutcome(
        judgments=[
            JudgmentWrite(
                candidate_id=ordinals[o],
                grade=j.grade,
                reasoning=j.reasoning,
                fingerprint=prints.get(o),
            )
            for o, j in parsed.judgments.items()
        ],
        failures=[
            FailureWrite(candidate_id=ordinals[o], reason=reason, raw_excerpt=raw)
            for o, reason in parsed.failures.items()
        ],
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cached_input_tokens=completion.cached_input_tokens,
        request=request,
    )


def all_failed(
    candidate_ids: Iterable[UUID], reason: str, *, request: str | None = None
) -> BatchOutcome:
    """The same failure for every candidate of a batch that got no usable answer."""
    return BatchOutcome(
        judgments=[],
        failures=[
            FailureWrite(candidate_id=c, reason=reason, raw_excerpt="") for c in candidate_ids
        ],
        input_tokens=0,
        output_tokens=0,
        request=request,
    )
