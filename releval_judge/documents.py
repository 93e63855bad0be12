"""What of a candidate reaches the prompt: long text cut short, chosen fields, no blobs.

Pure: a judge's ``max_document_chars`` and ``fields`` applied to one candidate. The rules,
as documented in ``docs/reviewing.md``:

- **Truncation.** The title, the text and every string inside ``fields`` are each cut to at
  most ``max_document_chars`` characters, at the last word boundary (unless that boundary
  lies in the first half of the allowed characters: a very long "word" is cut inside), and
  :data:`TRUNCATION_MARKER` is appended so the model (and a reviewer reading the prompt)
  sees that the document goes on.
- **Field choice.** ``fields`` names the keys of the candidate's ``fields`` object that go
  to the prompt, in that order; ``None`` keeps every key, ``[]`` none. A name a candidate
  lacks is skipped. Title and text always go.
- **Never binary or vector values**, whatever ``fields`` says: lists of more than
  :data:`MAX_NUMBER_LIST` numbers (embeddings), strings that look like base64 blobs
  (``data:…;base64,`` URIs, or at least :data:`MIN_BLOB_CHARS` characters of the base64
  alphabet without a space), and objects flagged as binary or vectors (a ``$binary`` or
  ``$vector`` key, as in MongoDB or Astra JSON, or Node's ``{"type": "Buffer", "data": …}``)
  are dropped, also when nested; a list or object left empty by that is dropped too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from releval_judge.prompt import PromptCandidate

__all__ = [
    "MAX_NUMBER_LIST",
    "MIN_BLOB_CHARS",
    "TRUNCATION_MARKER",
    "DocumentLike",
    "clean_fields",
    "is_blob",
    "prompt_candidate",
    "truncate_text",
]

TRUNCATION_MARKER: Final = " […]"
"""Appended to text that was cut (it holds none of ``& < >``, so it is sent as is)."""

MAX_NUMBER_LIST: Final = 32
"""A list of more numbers than this is taken for a vector and never sent."""

MIN_BLOB_CHARS: Final = 256
"""A string this long made only of base64 characters is taken for binary data."""

FLAG_KEYS: Final = frozenset({"$binary", "$vector"})

_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_DATA_URI = re.compile(r"data:[^,\s]{0,200};base64,", re.IGNORECASE)
_LAST_SPACE = re.compile(r"\s\S*\Z")


class _Drop:
    """Marks a value that must not reach the prompt."""


_DROP: Final = _Drop()


class DocumentLike(Protocol):
    """A candidate as read from the database (engine) or given inline (judge test)."""

    @property
    def rank(self) -> int: ...
    @property
    def doc_id(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


def truncate_text(text: str, max_chars: int | None) -> str:
    """``text``, or its first ``max_chars`` characters up to a word boundary plus the marker."""
    if max_chars is None or len(text) <= max_chars:
        return text
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    cut = text[:max_chars]
    if not text[max_chars].isspace():
        space = _LAST_SPACE.search(cut)
        if space is not None and space.start() >= max_chars // 2:
            cut = cut[: space.start()]
    return cut.rstrip() + TRUNCATION_MARKER


def is_blob(value: Any) -> bool:
    """True for values that are binary data or vectors, never useful to a relevance judge."""
    if isinstance(value, str):
        stripped = value.strip()
        if _DATA_URI.match(stripped):
            return True
        return len(stripped) >= MIN_BLOB_CHARS and _BASE64_BLOB.fullmatch(stripped) is not None
    if isinstance(value, list):
        return len(value) > MAX_NUMBER_LIST and all(_is_number(v) for v in value)
    if isinstance(value, Mapping):
        if FLAG_KEYS & set(value):
            return True
        return value.get("type") == "Buffer" and "data" in value
    return False


def clean_fields(
    fields: Mapping[str, Any],
    names: Sequence[str] | None = None,
    max_chars: int | None = None,
) -> dict[str, Any]:
    """The fields that go to the prompt: chosen by ``names``, without blobs, strings cut."""
    chosen = (
        list(fields.items())
        if names is None
        else [(name, fields[name]) for name in dict.fromkeys(names) if name in fields]
    )
    kept: dict[str, Any] = {}
    for name, value in chosen:
        cleaned = _clean(value, max_chars)
        if not isinstance(cleaned, _Drop):
            kept[name] = cleaned
    return kept


def prompt_candidate(
    ordinal: str,
    candidate: DocumentLike,
    *,
    max_document_chars: int | None = None,
    fields: Sequence[str] | None = None,
) -> PromptCandidate:
    """The candidate as the template sees it, with the judge's document rules applied."""
    title, text = candidate.title, candidate.text
    return PromptCandidate(
        id=ordinal,
        rank=candidate.rank,
        doc_id=candidate.doc_id,
        title=None if title is None else truncate_text(title, max_document_chars),
        text=None if text is None else truncate_text(text, max_document_chars),
        fields=clean_fields(candidate.fields, fields, max_document_chars),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clean(value: Any, max_chars: int | None) -> Any:
    if is_blob(value):
        return _DROP
    if isinstance(value, str):
        return truncate_text(value, max_chars)
    if isinstance(value, list):
        items = [_clean(v, max_chars) for v in value]
        kept = [v for v in items if not isinstance(v, _Drop)]
        return _DROP if value and not kept else kept
    if isinstance(value, Mapping):
        pairs = {k: _clean(v, max_chars) for k, v in value.items()}
        kept_map = {k: v for k, v in pairs.items() if not isinstance(v, _Drop)}
        return _DROP if value and not kept_map else kept_map
    return value
