"""Fingerprints of judgments: a hash of what decides a candidate's answer, so that a judging
run can take an earlier judgment of the same question instead of paying for it again
(docs/decisions.md, "Reuse by fingerprint").

What is in it, and why:

- the **query text** and the **candidate as the prompt shows it**: its title, text and
  fields after the judge's document rules (``max_document_chars``, ``fields``: the same
  :func:`~releval_judge.documents.prompt_candidate` the prompt is rendered from), so a
  change of those rules changes the fingerprint exactly when it changes what is sent;
- its ``rank`` and ``doc_id`` only when the template can show them (:func:`shown_keys`):
  the next ranker puts the same documents at other ranks, and a template that never shows
  the rank gets the same prompt for them;
- the **scale** (min, max, labels);
- the judge's **deciding settings**: provider, model, the base URL (another server may
  serve another model under the same name), the template's text (the default one's when
  the judge has none), temperature, reasoning effort and the output cap.

Not in it: the batch size and the other documents of a batch (the ordinal ``id`` too),
concurrency, delivery, timeouts, retries, rate limits, keys, prices: they change how and
when an answer is asked for, not the question. (Whether a document's neighbours in a batch
sway its grade is what an audit measures.)

Pure: no I/O. A run computes its :class:`Fingerprinter` once, then one fingerprint per
candidate (a copy of the settings' hash fed the candidate's own part). A page of candidates
is prepared with :meth:`Fingerprinter.prepare_all`, which gives the event loop back
between slices: the loop that judges also answers the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol
from uuid import UUID

from releval_judge.documents import DocumentLike, prompt_candidate
from releval_judge.models import JudgeConfig
from releval_judge.prompt import DEFAULT_TEMPLATE, JudgePrompt, PromptCandidate
from releval_judge.providers.config import DEFAULT_BASE_URLS
from releval_judge.scale import Scale

__all__ = [
    "FINGERPRINT_VERSION",
    "Fingerprinter",
    "Prepared",
    "shown_keys",
]

FINGERPRINT_VERSION: Final = 1
"""Bumped when what a fingerprint covers changes: older judgments then match nothing."""

DIGEST_BYTES: Final = 16
"""BLAKE2b-128: collisions are out of reach (about 1 in 10^20 among 10^9 judgments), and a
key half as long as SHA-256's keeps the fingerprint index small and its probes cheap."""

PREPARE_SLICE: Final = 100
"""Candidates prepared between two turns of the event loop by
:meth:`Fingerprinter.prepare_all`. A candidate costs 8–15 µs (a 400-character text,
2 cores): a slice is about a millisecond, where a page of 1,000 at once held the loop for
10–40 ms (100 ms on a loaded machine), and every API read in flight waited that long
(docs/benchmarks.md, "Reads while a run writes")."""

OPTIONAL_KEYS: Final = ("rank", "doc_id")
"""Candidate values that are in a fingerprint only when the template can show them."""


class QueryDocument(DocumentLike, Protocol):
    """A candidate with its id and its query's text (as the engine reads it)."""

    @property
    def id(self) -> UUID: ...
    @property
    def query_id(self) -> str: ...
    @property
    def query(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A candidate, the document its prompt shows (``document``, with an empty ``id``:
    the ordinal is given when its batch is rendered) and its fingerprint. Made once per
    candidate; the prompt is rendered from ``document``."""

    candidate: QueryDocument
    document: PromptCandidate
    fingerprint: bytes

    @property
    def id(self) -> UUID:
        return self.candidate.id

    @property
    def query_id(self) -> str:
        return self.candidate.query_id

    @property
    def query(self) -> str:
        return self.candidate.query

    def numbered(self, ordinal: str) -> PromptCandidate:
        """The document as the template sees it at place ``ordinal`` of its batch."""
        return replace(self.document, id=ordinal)


def shown_keys(source: str | None, template: JudgePrompt) -> frozenset[str]:
    """Which of :data:`OPTIONAL_KEYS` the template can show: those its text names, and
    those whose change changes a rendered prompt (a template printing a candidate whole,
    ``{{ c }}`` or ``c|tojson``, names neither). A template whose probe fails to render
    shows both, to be safe. Synchronous: call it in the renderer's threads."""
    text = source or DEFAULT_TEMPLATE
    shown = {key for key in OPTIONAL_KEYS if re.search(rf"\b{key}\b", text)}
    scale = Scale(min=0, max=1)
    base = PromptCandidate(id="1", rank=1, doc_id="probe-a", title="t", text="x")
    try:
        first = template.render(query="q", candidates=[base], scale=scale).text
        if template.render(query="q", candidates=[replace(base, rank=7)], scale=scale).text != (
            first
        ):
            shown.add("rank")
        probe_b = replace(base, doc_id="probe-b")
        if template.render(query="q", candidates=[probe_b], scale=scale).text != first:
            shown.add("doc_id")
    except Exception:  # a template the probe cannot render: assume it shows everything
        shown.update(OPTIONAL_KEYS)
    return frozenset(shown)


class Fingerprinter:
    """Fingerprints of one judge's candidates on one scale (see the module's docstring)."""

    def __init__(self, config: JudgeConfig, scale: Scale, shown: frozenset[str]) -> None:
        self.config = config
        self.shown = tuple(key for key in OPTIONAL_KEYS if key in shown)
        settings = {
            "version": FINGERPRINT_VERSION,
            "provider": config.provider,
            "model": config.model,
            "base_url": (config.base_url or DEFAULT_BASE_URLS[config.provider]).rstrip("/"),
            "template": config.prompt_template or DEFAULT_TEMPLATE,
            "temperature": config.temperature,
            "reasoning_effort": config.reasoning_effort,
            "max_output_tokens": config.max_output_tokens,
            "scale": [scale.min, scale.max, sorted(scale.labels.items())],
            "shown": self.shown,
        }
        self._settings = hashlib.blake2b(_canonical(settings), digest_size=DIGEST_BYTES)

    @property
    def settings_digest(self) -> bytes:
        """The hash of the settings' part alone: the same for every candidate of the run,
        and for any run that decides the same way."""
        return self._settings.digest()

    def prepare(self, candidate: QueryDocument) -> Prepared:
        """The candidate with its document and its fingerprint."""
        document = prompt_candidate(
            "",
            candidate,
            max_document_chars=self.config.max_document_chars,
            fields=self.config.fields,
        )
        part: list[Any] = [candidate.query, document.title, document.text, document.fields]
        part.extend(getattr(document, key) for key in self.shown)
        digest = self._settings.copy()
        digest.update(_canonical(part))
        return Prepared(candidate, document, digest.digest())

    async def prepare_all(self, candidates: Sequence[QueryDocument]) -> list[Prepared]:
        """The candidates, each prepared (:meth:`prepare`), in order; the event loop runs
        other callbacks after each :data:`PREPARE_SLICE` candidates (never before the
        first)."""
        prepared: list[Prepared] = []
        for start in range(0, len(candidates), PREPARE_SLICE):
            if start:
                await asyncio.sleep(0)
            prepared.extend(self.prepare(c) for c in candidates[start : start + PREPARE_SLICE])
        return prepared


def _canonical(value: object) -> bytes:
    """One encoding per value: JSON without spaces, text as it is, keys in their order (the
    order in which the prompt shows a candidate's fields)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode(
        "utf-8", "surrogatepass"
    )
