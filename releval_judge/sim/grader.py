"""The simulator's judge: read the service's prompt, grade each candidate lexically.

Pure functions, no I/O. The simulator cannot understand an arbitrary user template, so it
relies on the markers of the service's default template:

* a line ``Query: <text>`` (``<query>…</query>`` is accepted too);
* per candidate, ``<document id="N">`` … ``</document>`` around its title and text, where
  ``N`` is the candidate's id in the batch; tags inside are template markup and ignored;
* optionally a line ``Grades: integers from MIN to MAX`` or ``Grades are integers from
  MIN to MAX`` (the default template's wording; otherwise 0 to 3).

Text inside is HTML-escaped by the template's autoescaping and unescaped here.

Each candidate's grade comes from a transparent lexical score in [0, 1]: query terms are
weighted by a smoothed idf over the batch's documents, ``1 + ln((1 + N) / (1 + df))``, and
credited by BM25's saturating term frequency with length normalisation
(``k1 = 1.2``, ``b = 0.75``), capped at 1 so that one mention in a document of average
length is full credit. The score is the credited share of the query's idf weight, mapped
linearly and rounded onto the scale.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_SCALE = (0, 3)
NO_CANDIDATES_ANSWER = (
    "I could not find any candidate documents in your message, so there is nothing to grade."
)

_K1 = 1.2
_B = 0.75
_MAX_LISTED_TERMS = 8

_QUERY_LINE = re.compile(r"^[ \t]*Query:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
_QUERY_TAG = re.compile(r"<query>(.*?)</query>", re.DOTALL)
# The body as "runs of anything but '<', and '<' that does not close the section" rather
# than a lazy ".*?", which would try the closing tag at every character.
_DOCUMENT = re.compile(r'<document id="([^"]*)">([^<]*(?:<(?!/document>)[^<]*)*)</document>')
_SCALE = re.compile(r"Grades(?::| are) integers from (-?\d+) to (-?\d+)")
_TAG = re.compile(r"<[^<>]*>")
_WORD = re.compile(r"\w+")

_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not of off on once only or other our ours out over own same
    she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Document:
    """One candidate section of the prompt: its id in the batch and its unescaped text."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    query: str
    documents: tuple[Document, ...]
    scale_min: int = DEFAULT_SCALE[0]
    scale_max: int = DEFAULT_SCALE[1]


@dataclass(frozen=True, slots=True)
class Judgment:
    id: str
    grade: int
    overlap: float
    matched: tuple[str, ...]
    reasoning: str


def parse_prompt(text: str) -> Prompt:
    """Extract query, candidate sections and scale from a rendered prompt."""
    match = _QUERY_LINE.search(text) or _QUERY_TAG.search(text)
    query = html.unescape(match.group(1).strip()) if match else ""
    documents = tuple(
        Document(id=html.unescape(m.group(1)), text=html.unescape(_TAG.sub(" ", m.group(2))))
        for m in _DOCUMENT.finditer(text)
    )
    scale_min, scale_max = DEFAULT_SCALE
    if (scale := _SCALE.search(text)) is not None:
        low, high = int(scale.group(1)), int(scale.group(2))
        if low < high:
            scale_min, scale_max = low, high
    return Prompt(query=query, documents=documents, scale_min=scale_min, scale_max=scale_max)


def terms(text: str) -> list[str]:
    """Lowercased word tokens without stopwords and single letters."""
    return [
        t
        for t in _WORD.findall(text.lower())
        if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())
    ]


@functools.lru_cache(maxsize=4096)
def _term_counts(text: str) -> Counter[str]:
    """The terms of a document and how often each occurs. Cached: runs judge the same
    documents again and again, and the simulator shares the benchmarks' cores with the
    service it stands in for. Callers only read the result."""
    return Counter(terms(text))


def judge(prompt: Prompt) -> list[Judgment]:
    """One judgment per document, in prompt order."""
    query_terms = list(dict.fromkeys(terms(prompt.query)))
    doc_terms = [_term_counts(d.text) for d in prompt.documents]
    n_docs = len(doc_terms)
    if n_docs == 0:
        return []
    avg_len = sum(sum(c.values()) for c in doc_terms) / n_docs or 1.0
    weights = {
        q: 1.0 + math.log((1 + n_docs) / (1 + sum(1 for c in doc_terms if q in c)))
        for q in query_terms
    }
    total_weight = sum(weights.values())
    span = prompt.scale_max - prompt.scale_min
    scale_text = f"{prompt.scale_min}–{prompt.scale_max}"

    judgments = []
    for document, counts in zip(prompt.documents, doc_terms, strict=True):
        length_norm = 1 - _B + _B * sum(counts.values()) / avg_len
        credited = 0.0
        matched = []
        for q in query_terms:
            tf = counts.get(q, 0)
            if tf:
                matched.append(q)
                credited += weights[q] * min(1.0, tf * (_K1 + 1) / (tf + _K1 * length_norm))
        overlap = credited / total_weight if total_weight else 0.0
        grade = prompt.scale_min + math.floor(overlap * span + 0.5)
        judgments.append(
            Judgment(
                id=document.id,
                grade=grade,
                overlap=overlap,
                matched=tuple(matched),
                reasoning=_reasoning(overlap, matched, grade, scale_text),
            )
        )
    return judgments


def _reasoning(overlap: float, matched: Sequence[str], grade: int, scale_text: str) -> str:
    listed = ", ".join(matched[:_MAX_LISTED_TERMS]) or "none"
    if len(matched) > _MAX_LISTED_TERMS:
        listed += ", …"
    return f"Lexical overlap {overlap:.2f} (matched: {listed}) → grade {grade} of {scale_text}."


def format_blocks(judgments: Iterable[Judgment]) -> str:
    """The answer format the service asks for: one ``<candidate>`` block per judgment."""
    blocks = [
        f'<candidate id="{j.id}">\n<grade>{j.grade}</grade>\n'
        f"<reasoning>{j.reasoning}</reasoning>\n</candidate>"
        for j in judgments
    ]
    return "\n".join(blocks) if blocks else NO_CANDIDATES_ANSWER


def format_json(judgments: Iterable[Judgment]) -> str:
    """A malformed answer, as models sometimes give: the same judgments as fenced JSON."""
    rows = [{"id": j.id, "grade": j.grade, "reasoning": j.reasoning} for j in judgments]
    return "```json\n" + json.dumps({"judgments": rows}, ensure_ascii=False, indent=2) + "\n```"


def estimate_tokens(text: str) -> int:
    """About four characters per token, as a rule of thumb; at least 1."""
    return max(1, round(len(text) / 4))
