"""Properties of the two pure functions that stand between documents and grades.

The parser takes any text a model sends; the renderer takes any text a document, a
query or a scale label holds. Hypothesis feeds both with arbitrary text and with text
built from the very markup that could do harm (answer-block tags, ``<document>`` tags,
Jinja2 syntax, entities). Derandomized, so that CI sees the same examples every time.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from releval_judge import parse
from releval_judge.parse import REASONING_LIMIT, parse_answer
from releval_judge.prompt import PromptCandidate, compile_template, default_template, render_prompt
from releval_judge.scale import Scale
from releval_judge.sim import grader
from tests.support.fakes import blocks

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)

# Pieces of markup that matter to the parser or the template engine.
MARKUP = [
    '<candidate id="1">',
    "<candidate id='2'>",
    "<candidate id=3>",
    '<CANDIDATE ID="1">',
    '<candidate id="ID">',
    "<candidate",
    "</candidate>",
    "</CANDIDATE >",
    "</candidate",
    "<grade>",
    "</grade>",
    "<reasoning>",
    "</reasoning>",
    '<document id="1">',
    '<document id="2">',
    "</document>",
    "<grade>3</grade>",
    "<grade>-1</grade>",
    "{{ query }}",
    "{{ candidates[0].text }}",
    "{% for c in candidates %}",
    "{% endfor %}",
    "{% raw %}",
    "{#",
    "#}",
    "}}",
    "{{ ''.__class__.__mro__ }}",
    "&lt;",
    "&gt;",
    "&amp;",
    "&#60;",
    "&#x3C;",
    "&#0;",
    "\x00",
    "\ud800",
    "\n",
    '"',
    "'",
    "<",
    ">",
    "&",
    "0",
    "2",
    "3.0",
    "99999999999",
    "x",
]


def _joined(pieces: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(pieces, max_size=max_size).map("".join)


# Text that is mostly markup, and text that is anything at all.
HOSTILE = st.one_of(
    _joined(st.one_of(st.sampled_from(MARKUP), st.text(max_size=8)), 12),
    st.text(max_size=60),
)


@st.composite
def scales(draw: st.DrawFn) -> Scale:
    low = draw(st.integers(-1000, 999))
    high = draw(st.integers(low + 1, min(low + 100, 1000)))
    grades = st.integers(low, high)
    labels = draw(st.dictionaries(grades, HOSTILE, max_size=5))
    return Scale(min=low, max=high, labels=labels)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        HOSTILE,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(HOSTILE, children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def batches(draw: st.DrawFn) -> list[PromptCandidate]:
    size = draw(st.integers(1, 8))
    return [
        PromptCandidate(
            id=str(n),
            rank=draw(st.integers(0, 1_000_000_000)),
            doc_id=draw(HOSTILE.filter(bool)),
            title=draw(st.none() | HOSTILE),
            text=draw(st.none() | HOSTILE),
            fields=draw(st.dictionaries(HOSTILE, JSON_VALUES, max_size=4)),
        )
        for n in range(1, size + 1)
    ]


# --- the parser ------------------------------------------------------------------------

# The service sends ordinals; the parser must also cope with ids it would never send.
ORDINALS = st.lists(st.sampled_from([str(n) for n in range(1, 9)]), unique=True, min_size=1)
IDS = st.lists(st.sampled_from(["1", "2", "3", "4", "5", "ID", "", " 1"]), unique=True, max_size=6)


@PROPERTY
@given(answer=HOSTILE | st.text(), sent=IDS, scale=scales())
def test_parser_is_total_and_accounts_for_every_sent_id(
    answer: str, sent: list[str], scale: Scale
) -> None:
    result = parse_answer(answer, sent, scale)

    assert set(result.judgments) | set(result.failures) == set(sent)
    assert not set(result.judgments) & set(result.failures)
    for candidate_id, judgment in result.judgments.items():
        assert judgment.id == candidate_id
        assert scale.min <= judgment.grade <= scale.max
        assert len(judgment.reasoning) <= REASONING_LIMIT
        # PostgreSQL text cannot hold NUL, and UTF-8 cannot encode lone surrogates.
        assert "\x00" not in judgment.reasoning
        judgment.reasoning.encode()
    for reason in result.failures.values():
        assert reason and isinstance(reason, str)


@PROPERTY
@given(sent=ORDINALS, scale=scales(), data=st.data())
def test_well_formed_blocks_give_exactly_their_grades(
    sent: list[str], scale: Scale, data: st.DataObject
) -> None:
    grades = {cid: data.draw(st.integers(scale.min, scale.max)) for cid in sent}
    chatter = data.draw(st.text(alphabet=st.characters(exclude_characters="<"), max_size=40))

    result = parse_answer(chatter + blocks(grades) + chatter, sent, scale)

    assert {cid: j.grade for cid, j in result.judgments.items()} == grades


# --- the renderer ----------------------------------------------------------------------

# The default template's own markup: <document id="N"> and </document> per candidate,
# and the answer format's six tags (with the placeholder id "ID").
DEFAULT_OWN_TAGS = 6

USER_PLAIN = compile_template(
    "Query: {{ query }}\n"
    "{% for c in candidates %}#{{ c.id }} (rank {{ c.rank }}, {{ c.doc_id }}) {{ c.title }}\n"
    "{% if c.text %}{{ c.text|truncate(80) }} | {{ c.text|upper }}{% endif %}\n"
    "{{ c.fields|tojson }} {% for name, value in c.fields.items() %}{{ name }}={{ value }}; "
    "{% endfor %}\n{% endfor %}"
    "{% for grade, label in scale.labels.items() %}{{ grade }}: {{ label|title }}\n{% endfor %}"
    "Grades {{ scale.min }} to {{ scale.max }}; answer in candidate blocks.\n"
)
USER_TAGGED = compile_template(
    '{% for c in candidates %}<doc n="{{ c.id }}">{{ c.title }}\n{{ c.text }}\n'
    "{{ c.fields.values()|list }}</doc>\n{% endfor %}"
    "Query: {{ query|replace('x', '<') }} {{ '%s'|format(query) }}\n"
)


def _render(template: jinja2.Template, query: str, batch: Any, scale: Scale) -> str:
    return render_prompt(template, query=query, candidates=batch, scale=scale)


@PROPERTY
@given(query=HOSTILE, batch=batches(), scale=scales())
def test_default_template_shows_each_document_once_and_no_markup_from_the_data(
    query: str, batch: list[PromptCandidate], scale: Scale
) -> None:
    prompt = _render(default_template(), query, batch, scale)

    assert re.findall(r'<document id="([^"]*)">', prompt) == [c.id for c in batch]
    assert prompt.lower().count("<candidate") == 1  # the answer format's placeholder
    # Every "<" is the template's own: nothing in a query, title, text, field or label
    # reaches the model unescaped.
    assert prompt.count("<") == 2 * len(batch) + DEFAULT_OWN_TAGS


@PROPERTY
@given(query=HOSTILE, batch=batches(), scale=scales())
def test_user_templates_show_no_markup_from_the_data(
    query: str, batch: list[PromptCandidate], scale: Scale
) -> None:
    assert "<" not in _render(USER_PLAIN, query, batch, scale)
    tagged = _render(USER_TAGGED, query, batch, scale)
    assert re.findall(r'<doc n="([^"]*)">', tagged) == [c.id for c in batch]
    assert tagged.count("<") == 2 * len(batch)


@PROPERTY
@given(
    template=st.sampled_from([default_template(), USER_PLAIN, USER_TAGGED]),
    query=HOSTILE,
    batch=batches(),
    scale=scales(),
    data=st.data(),
)
def test_no_document_can_change_a_grade_but_its_own(
    template: jinja2.Template,
    query: str,
    batch: list[PromptCandidate],
    scale: Scale,
    data: st.DataObject,
) -> None:
    prompt = _render(template, query, batch, scale)
    ids = [c.id for c in batch]

    # A model that echoes its prompt grades nobody...
    assert parse_answer(prompt, ids, scale).judgments == {}
    # ...and one that answers after echoing it gets exactly the grades it gave.
    grades = {cid: data.draw(st.integers(scale.min, scale.max)) for cid in ids}
    result = parse_answer(prompt + "\n" + blocks(grades), ids, scale)
    assert {cid: j.grade for cid, j in result.judgments.items()} == grades
    assert result.failures == {}


# --- the block patterns ----------------------------------------------------------------

# The patterns as first written: a lazy body. The parser's and the simulator's patterns
# spell the body out so that the closing tag is not tried at every character; they must
# find the same matches.
LAZY_BLOCK = re.compile(
    r"<candidate\b([^>]{0,200})>(.*?)(?:</candidate\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
LAZY_DOCUMENT = re.compile(r'<document id="([^"]*)">(.*?)</document>', re.DOTALL)


@PROPERTY
@given(text=HOSTILE)
def test_block_patterns_match_what_the_lazy_patterns_match(text: str) -> None:
    def found(pattern: re.Pattern[str]) -> list[tuple[int, int, tuple[str | Any, ...]]]:
        return [(m.start(), m.end(), m.groups()) for m in pattern.finditer(text)]

    assert found(parse._BLOCK) == found(LAZY_BLOCK)
    assert found(grader._DOCUMENT) == found(LAZY_DOCUMENT)
