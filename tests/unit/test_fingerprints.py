"""Fingerprints (engine/fingerprints.py), pure: what changes one and what does not, and which
candidate values a template shows."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from releval_judge.engine.fingerprints import PREPARE_SLICE, Fingerprinter, shown_keys
from releval_judge.models import JudgeConfig
from releval_judge.prompt import JudgePrompt
from releval_judge.scale import Scale

SCALE = Scale(min=0, max=3, labels={0: "bad", 3: "perfect"})


@dataclass(frozen=True)
class Doc:
    query: str = "red shoes"
    rank: int = 1
    doc_id: str = "d1"
    title: str | None = "Red shoes"
    text: str | None = "Leather shoes, in red."
    fields: dict[str, Any] = field(default_factory=lambda: {"brand": "Acme", "size": 42})
    query_id: str = "q1"
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def config(**settings: Any) -> JudgeConfig:
    return JudgeConfig.model_validate({"name": "j", "provider": "openai", "model": "m", **settings})


def fingerprint(doc: Doc, scale: Scale = SCALE, **settings: Any) -> bytes:
    judge = config(**settings)
    template = JudgePrompt(judge.prompt_template)
    shown = shown_keys(judge.prompt_template, template)
    return Fingerprinter(judge, scale, shown).prepare(doc).fingerprint


def test_the_same_question_has_the_same_fingerprint_whatever_asks_how() -> None:
    base = fingerprint(Doc())
    assert fingerprint(Doc(id=uuid.uuid4(), query_id="other")) == base
    # The default template shows neither rank nor doc_id: the next ranker's rank is free.
    assert fingerprint(Doc(rank=7, doc_id="elsewhere")) == base
    assert fingerprint(Doc(), batch_size=50, concurrency=1, max_retries=0, delivery="batch") == base
    assert fingerprint(Doc(), input_price_per_mtok=3.0, request_timeout_s=5) == base
    # An explicit default base URL is the default; a rule that cuts nothing changes nothing.
    assert fingerprint(Doc(), base_url="https://api.openai.com/v1/") == base
    assert fingerprint(Doc(), max_document_chars=1000) == base


@pytest.mark.parametrize(
    ("doc", "scale", "settings"),
    [
        (Doc(query="blue shoes"), SCALE, {}),
        (Doc(title="Red boots"), SCALE, {}),
        (Doc(text="Leather shoes, in crimson."), SCALE, {}),
        (Doc(fields={"brand": "Acme", "size": 43}), SCALE, {}),
        (Doc(), Scale(min=0, max=4), {}),
        (Doc(), Scale(min=0, max=3, labels={0: "bad", 3: "great"}), {}),
        (Doc(), SCALE, {"model": "m2"}),
        (Doc(), SCALE, {"provider": "anthropic"}),
        (Doc(), SCALE, {"base_url": "http://127.0.0.1:9000/v1"}),
        (Doc(), SCALE, {"temperature": 0.0}),
        (Doc(), SCALE, {"reasoning_effort": "low"}),
        (Doc(), SCALE, {"max_output_tokens": 100}),
        (
            Doc(),
            SCALE,
            {"prompt_template": "{{ query }}{% for c in candidates %}{{ c.title }}{% endfor %}"},
        ),
        # Document rules that change what the prompt shows.
        (Doc(), SCALE, {"max_document_chars": 5}),
        (Doc(), SCALE, {"fields": ["size"]}),
        (Doc(), SCALE, {"fields": ["size", "brand"]}),
    ],
)
def test_anything_that_decides_the_answer_changes_the_fingerprint(
    doc: Doc, scale: Scale, settings: dict[str, Any]
) -> None:
    assert fingerprint(doc, scale, **settings) != fingerprint(Doc())


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        (None, set()),
        ("{% for c in candidates %}{{ c.id }} {{ c.title }}{% endfor %}", set()),
        ("{% for c in candidates %}{{ c.rank }}. {{ c.title }}{% endfor %}", {"rank"}),
        ("{% for c in candidates %}{{ c['doc_id'] }}{% endfor %}", {"doc_id"}),
        # Printed whole: neither is named, both are shown.
        ("{% for c in candidates %}{{ c }}{% endfor %}", {"rank", "doc_id"}),
        ("{% for c in candidates %}{{ c|tojson }}{% endfor %}", {"rank", "doc_id"}),
    ],
)
def test_rank_and_doc_id_count_only_when_the_template_shows_them(
    template: str | None, shown: set[str]
) -> None:
    assert shown_keys(template, JudgePrompt(template)) == shown
    moved = fingerprint(Doc(rank=9), prompt_template=template) != fingerprint(
        Doc(), prompt_template=template
    )
    assert moved == ("rank" in shown)


async def test_a_page_is_prepared_in_slices_that_let_the_loop_serve_others() -> None:
    """The loop that judges also answers the API: preparing a page gives it back between
    slices, and the result is the same as preparing it at once."""
    judge = config()
    fingerprinter = Fingerprinter(judge, SCALE, shown_keys(None, JudgePrompt(None)))
    page = [Doc(doc_id=f"d{i}", rank=i, text=f"text {i}") for i in range(2 * PREPARE_SLICE + 1)]
    loop = asyncio.get_running_loop()
    callbacks_run = 0
    handle: asyncio.Handle | None = None

    def other_callback() -> None:  # stands for a request waiting its turn on the loop
        nonlocal callbacks_run, handle
        callbacks_run += 1
        handle = loop.call_soon(other_callback)

    handle = loop.call_soon(other_callback)
    try:
        prepared = await fingerprinter.prepare_all(page)
    finally:
        handle.cancel()

    assert prepared == [fingerprinter.prepare(c) for c in page]
    # Three slices: the loop ran the other callback after the first and after the second.
    assert callbacks_run == 2
