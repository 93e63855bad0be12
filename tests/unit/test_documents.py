"""Long documents and chosen fields: what of a candidate reaches the prompt."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from releval_judge.documents import (
    MAX_NUMBER_LIST,
    TRUNCATION_MARKER,
    clean_fields,
    is_blob,
    prompt_candidate,
    truncate_text,
)
from releval_judge.prompt import default_template, render_prompt
from releval_judge.scale import Scale


@dataclass(frozen=True)
class Doc:
    rank: int = 1
    doc_id: str = "d1"
    title: str | None = "A title"
    text: str | None = "Some text."
    fields: dict[str, Any] = field(default_factory=dict)


def test_short_text_is_untouched() -> None:
    assert truncate_text("short text", 100) == "short text"
    assert truncate_text("exactly ten", 11) == "exactly ten"
    assert truncate_text("anything", None) == "anything"


def test_long_text_is_cut_at_a_word_boundary_with_a_visible_marker() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    cut = truncate_text(text, 18)
    assert cut == "The quick brown" + TRUNCATION_MARKER
    assert cut.endswith(" […]")
    # Cut right before a space: the whole last word stays.
    assert truncate_text(text, 15) == "The quick brown" + TRUNCATION_MARKER


def test_a_very_long_word_is_cut_inside_rather_than_dropping_most_of_the_text() -> None:
    text = "a " + "x" * 100
    assert truncate_text(text, 20) == "a " + "x" * 18 + TRUNCATION_MARKER


def test_truncation_handles_newlines_and_trailing_space() -> None:
    text = "first line\nsecond line that goes on"
    assert truncate_text(text, 15) == "first line" + TRUNCATION_MARKER


def test_vectors_base64_and_flagged_objects_are_blobs() -> None:
    vector = [0.1] * (MAX_NUMBER_LIST + 1)
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    assert is_blob(vector)
    assert is_blob([1] * 100)
    assert is_blob(blob)
    assert is_blob("data:image/png;base64,iVBORw0KGgo=")
    assert is_blob({"$binary": {"base64": "AAAA", "subType": "00"}})
    assert is_blob({"$vector": [0.1, 0.2]})
    assert is_blob({"type": "Buffer", "data": [1, 2, 3]})

    assert not is_blob([0.1] * MAX_NUMBER_LIST)  # short lists of numbers are data (prices…)
    assert not is_blob(["a"] * 100)
    assert not is_blob([True] * 100)
    assert not is_blob("https://example.com/" + "a" * 300)  # URLs have ':' and '.'
    assert not is_blob("word " * 100)
    assert not is_blob("deadbeef" * 8)  # a 64-character hash is short
    assert not is_blob({"type": "product", "data": 1})


def test_clean_fields_drops_blobs_even_nested_and_keeps_the_rest() -> None:
    fields = {
        "brand": "Acme",
        "price": 59.9,
        "embedding": [0.5] * 768,
        "image": "data:image/jpeg;base64,/9j/4AAQ",
        "meta": {"colour": "red", "vec": [1.0] * 64, "raw": {"$binary": "AA"}},
        "multi": [[0.1] * 64, [0.2] * 64],
        "tags": ["audio", "bluetooth"],
    }
    assert clean_fields(fields) == {
        "brand": "Acme",
        "price": 59.9,
        "meta": {"colour": "red"},
        "tags": ["audio", "bluetooth"],
    }


def test_field_names_choose_and_order_what_goes_to_the_prompt() -> None:
    fields = {"brand": "Acme", "price": 59.9, "sku": "X1", "embedding": [0.5] * 768}
    assert list(clean_fields(fields, ["price", "brand", "missing"])) == ["price", "brand"]
    assert clean_fields(fields, []) == {}
    # Naming a vector field does not let it through.
    assert clean_fields(fields, ["embedding", "sku"]) == {"sku": "X1"}


def test_string_fields_are_cut_like_the_text() -> None:
    fields = {"body": "word " * 100, "nested": {"note": "note " * 100}}
    cleaned = clean_fields(fields, None, 20)
    assert cleaned["body"].endswith(TRUNCATION_MARKER)
    assert len(cleaned["body"]) <= 20 + len(TRUNCATION_MARKER)
    assert cleaned["nested"]["note"].endswith(TRUNCATION_MARKER)


def test_prompt_candidate_applies_the_judges_rules_and_the_prompt_shows_the_marker() -> None:
    doc = Doc(
        title="Headphones",
        text="Over-ear Bluetooth headphones with thirty hours of battery and a case.",
        fields={"brand": "Acme", "embedding": [0.1] * 300, "sku": "A-1"},
    )
    candidate = prompt_candidate("1", doc, max_document_chars=30, fields=["brand"])
    assert candidate.text == "Over-ear Bluetooth headphones" + TRUNCATION_MARKER
    assert candidate.fields == {"brand": "Acme"}
    prompt = render_prompt(
        default_template(), query="headphones", candidates=[candidate], scale=Scale(min=0, max=3)
    )
    assert "Over-ear Bluetooth headphones […]\n" in prompt
    assert "brand: Acme" in prompt
    assert "sku" not in prompt and "0.1" not in prompt


def test_without_rules_a_candidate_goes_as_it_is_minus_blobs() -> None:
    doc = Doc(text="x " * 5000, fields={"a": 1, "v": [1.5] * 40})
    candidate = prompt_candidate("3", doc)
    assert candidate.id == "3"
    assert candidate.text == doc.text
    assert candidate.fields == {"a": 1}
    assert (candidate.rank, candidate.doc_id, candidate.title) == (1, "d1", "A title")
    none = prompt_candidate("1", Doc(title=None, text=None), max_document_chars=5)
    assert (none.title, none.text) == (None, None)
