"""Parse a model's answer into one judgment or one failure reason per candidate sent.

The expected answer is one block per candidate, in any order, other text ignored::

    <candidate id="1">
    <grade>3</grade>
    <reasoning>why</reasoning>
    </candidate>

Pure and total: any text in, a :class:`ParseResult` out, never an exception. Every
pattern is bounded or searched once per block, so hostile input stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from releval_judge.scale import Scale

__all__ = ["ParseResult", "ParsedJudgment", "excerpt", "parse_answer"]

REASONING_LIMIT = 4000
"""Longest reasoning kept, in characters (longer is cut with an ellipsis)."""

_ELLIPSIS = "…"

# A block ends at its closing tag or, for an answer cut off by the token limit, at the
# end of the text. It does not end at the next opening tag: a reasoning that quotes a
# document's "<candidate id=2>…</candidate>" then stays inside its own block instead of
# posing as candidate 2. The attribute run is bounded so that many unclosed
# "<candidate" cannot make the search quadratic.
# The body is written out as "runs of anything but '<', and '<' that does not close the
# block" rather than a lazy ".*?", which would try the closing tag at every character.
_BLOCK = re.compile(
    r"<candidate\b([^>]{0,200})>([^<]*(?:<(?!/candidate\s*>)[^<]*)*)(?:</candidate\s*>|\Z)",
    re.IGNORECASE,
)
_ID = re.compile(r"""(?:^|\s)id\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_GRADE_OPEN = re.compile(r"<grade\s*>", re.IGNORECASE)
_GRADE_CLOSE = re.compile(r"</grade\s*>", re.IGNORECASE)
_REASONING_OPEN = re.compile(r"<reasoning\s*>", re.IGNORECASE)
_REASONING_CLOSE = re.compile(r"</reasoning\s*>", re.IGNORECASE)
# "3", "+3", "-1", "3.0": integral forms; "3.5" and words are not grades.
_INTEGRAL = re.compile(r"([+-]?)([0-9]+)(?:\.0*)?", re.ASCII)
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
# PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MARKDOWN = re.compile(r"```|^[ \t]*(?:#{1,6}[ \t]|\|.*\|)", re.MULTILINE)
_ID_QUOTES = "\"'“”‘’"


@dataclass(frozen=True, slots=True)
class ParsedJudgment:
    """A grade within the scale and its reasoning ("" when the model gave none)."""

    id: str
    grade: int
    reasoning: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Every sent id is a key of exactly one of ``judgments`` and ``failures``.

    ``failures`` maps an id to a reason a user can read, e.g. ``grade 5 outside scale 0–4``.
    """

    judgments: dict[str, ParsedJudgment]
    failures: dict[str, str]


def parse_answer(text: str, sent_ids: Sequence[str], scale: Scale) -> ParseResult:
    """Read the blocks of ``text`` for the candidates ``sent_ids``, graded on ``scale``.

    Blocks whose id was not sent are ignored, as are repeated blocks after the first
    for an id. Tags are case-insensitive; the id may be double-, single- or unquoted.
    A block needs a ``<grade>`` holding an integer within the scale; ``<reasoning>`` is
    optional and is unescaped of XML entities, stripped and capped at
    :data:`REASONING_LIMIT` characters.
    """
    wanted = dict.fromkeys(sent_ids)
    blocks: dict[str, str] = {}
    any_block = False
    for match in _BLOCK.finditer(text):
        any_block = True
        block_id = _block_id(match.group(1))
        if block_id in wanted and block_id not in blocks:
            blocks[block_id] = match.group(2)

    judgments: dict[str, ParsedJudgment] = {}
    failures: dict[str, str] = {}
    missing = (
        f"candidate missing from the answer (fewer candidates than were sent: "
        f"got {len(blocks)} of {len(wanted)})"
        if any_block
        else _no_blocks_reason(text)
    )
    for candidate_id in wanted:
        block = blocks.get(candidate_id)
        if block is None:
            failures[candidate_id] = missing
            continue
        grade = _grade(block, scale)
        if isinstance(grade, str):
            failures[candidate_id] = grade
        else:
            judgments[candidate_id] = ParsedJudgment(
                id=candidate_id, grade=grade, reasoning=_reasoning(block)
            )
    return ParseResult(judgments=judgments, failures=failures)


def excerpt(text: str, limit: int = 500) -> str:
    """At most ``limit`` characters of ``text``, ending in "…" when cut.

    Kept with failures so users see what the model said. NUL and lone surrogates,
    which PostgreSQL text cannot store, become U+FFFD.
    """
    if limit <= 0:
        return ""
    if len(text) > limit:
        text = text[: limit - 1] + _ELLIPSIS
    return _UNSTORABLE.sub("\ufffd", text)


def _block_id(attributes: str) -> str | None:
    match = _ID.search(attributes)
    if match is None:
        return None
    value = next(group for group in match.groups() if group is not None)
    # Unquoted ids can still carry typographic quotes from a chatty model.
    return value.strip().strip(_ID_QUOTES).strip()


def _no_blocks_reason(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return "no <candidate> blocks in the answer (the answer is empty)"
    if stripped[0] in "{[" or stripped[:7].lower() == "```json":
        return "no <candidate> blocks in the answer (got JSON instead?)"
    if _MARKDOWN.search(text):
        return "no <candidate> blocks in the answer (got Markdown instead?)"
    return "no <candidate> blocks in the answer"


def _grade(block: str, scale: Scale) -> int | str:
    """The grade of a block, or the reason it has none."""
    opening = _GRADE_OPEN.search(block)
    closing = _GRADE_CLOSE.search(block, opening.end()) if opening else None
    if opening is None or closing is None:
        return "no <grade> in the candidate's block"
    raw = block[opening.end() : closing.start()].strip()
    match = _INTEGRAL.fullmatch(raw)
    if match is None:
        return f"grade '{excerpt(raw, 40)}' is not an integer"
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    # The scale spans at most ±1000; a longer number is out of it, and int() would
    # refuse a few thousand digits anyway.
    if len(digits) > 9:
        return f"grade {excerpt(raw, 40)} outside scale {scale.describe()}"
    grade = -int(digits) if sign == "-" else int(digits)
    if not scale.contains(grade):
        return f"grade {grade} outside scale {scale.describe()}"
    return grade


def _reasoning(block: str) -> str:
    opening = _REASONING_OPEN.search(block)
    if opening is None:
        return ""
    # An unclosed reasoning (answer cut off) keeps what was written.
    closing = _REASONING_CLOSE.search(block, opening.end())
    raw = block[opening.end() : closing.start() if closing else len(block)]
    return excerpt(_ENTITY.sub(_unescape_entity, raw).strip(), REASONING_LIMIT)


def _unescape_entity(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        return _NAMED_ENTITIES[name]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    # &#0; and surrogates stay as written: the text must remain storable.
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return match.group(0)
    return chr(code)
