"""What a template may build: the sandbox refuses, before computing it, anything that would
make a huge value in one step, and a render stops at the prompt cap.

Each refusal is a TemplateLimitError (a TemplateError) whose message names the limit; on the
samples of ``compile_template`` it is reported when the judge is saved.
"""

from __future__ import annotations

import pytest

from releval_judge.prompt import (
    PromptCandidate,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
    compile_template,
    render_prompt,
)
from releval_judge.scale import Scale
from releval_judge.sizes import WORK_FACTOR

SCALE = Scale(min=0, max=3)
DOCUMENT = "word " * 400  # 2,000 characters
CANDIDATES = [
    PromptCandidate(id=str(i), rank=i, doc_id=f"d{i}", title=f"title {i}", text=DOCUMENT)
    for i in (1, 2, 3)
]
LIMITS = TemplateLimits(max_prompt_bytes=100_000)


def render(source: str, *, limits: TemplateLimits = LIMITS, query: str = "q") -> str:
    """Compiled without the samples (which could meet the limit first), then rendered."""
    template = compile_template("{{ query }}").environment.from_string(source)
    return render_prompt(template, query=query, candidates=CANDIDATES, scale=SCALE, limits=limits)


VALUE_CAP = "larger than a prompt may be (RELEVAL_MAX_PROMPT_BYTES)"

REFUSED = [
    # Exponent: refused whatever its size, at compile time already (not folded).
    ("{{ 9 ** 9 ** 9 }}", "the ** operator is not allowed"),
    ("{{ 2 ** 3 }}", "the ** operator is not allowed"),
    # Repetition beyond the cap, strings and lists alike.
    ("{{ query * 100001 }}", "repeating a value 100001 times with * " + "would make"),
    ("{{ 100001 * query }}", VALUE_CAP),
    ("{{ candidates[0].text * 1000 }}", VALUE_CAP),
    ("{{ [1] * 1000000000 }}", VALUE_CAP),
    ("{{ candidates * 1000 }}", VALUE_CAP),
    ("{{ [candidates[0].text] * 100 }}", VALUE_CAP),
    # Products of numbers too large to print.
    (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "a product of more than 10000 bits",
    ),
    # Ranges and counts of items.
    ("{% for i in range(10001) %}{% endfor %}", "range() of more than 10000 numbers"),
    ("{% for i in range(0, 10**12) %}{% endfor %}", "** operator"),
    ("{% for i in range(0, 1000000000000, 2) %}{% endfor %}", "range() of more than 10000"),
    ("{{ range(10)|batch(1000000000, 'x')|list }}", "batch() into more than 10000 items"),
    ("{{ range(10)|slice(1000000000)|list }}", "slice() into more than 10000 items"),
    # Filters that take a size.
    ("{{ query|center(1000000000) }}", "center would make a value of more than 100000"),
    ("{{ query|indent(200000) }}", "indent would make"),
    ("{{ candidates[0].text|wordwrap(1, wrapstring=candidates[0].text) }}", "wordwrap would"),
    ("{{ query|wordwrap(1000000000) }}", "wordwrap would make"),
    ("{{ query|truncate(1000000000) }}", "truncate would make"),
    ("{{ candidates[0].text|replace('w', candidates[0].text) }}", "replace would make"),
    ("{{ '%999999999s'|format(query) }}", "a width of 999999999 in format"),
    ("{{ candidates[0].text|tojson(indent=1000) }}", "tojson with an indent of more than 16"),
    # Methods of strings that take a size.
    ("{{ query.center(1000000000) }}", "center would make"),
    ("{{ query.ljust(1000000000) }}", "ljust would make"),
    ("{{ query.rjust(1000000000) }}", "rjust would make"),
    ("{{ query.zfill(1000000000) }}", "zfill would make"),
    ("{{ ('\\t' * 100).expandtabs(100000) }}", "expandtabs would make"),
    ("{{ candidates[0].text.replace(' ', candidates[0].text) }}", "replace would make"),
    ("{{ candidates[0].text.translate({119: candidates[0].text}) }}", "translate would make"),
    ("{{ '{:999999999}'.format(1) }}", "a width of 999999999 in format"),
    ("{{ '{x:999999999}'.format_map({'x': 1}) }}", "a width of 999999999 in format"),
    ("{{ '%999999999d' % 1 }}", "a width of 999999999 in %"),
    ("{{ '%*d' % (999999999, 1) }}", "a '*' width in %"),
    # Joining many values, also when they come lazily from a map.
    (
        "{{ range(1000)|map('string')|map('replace', '1', candidates[0].text)|join }}",
        "join would make",
    ),
    ("{{ ''.join(range(1000)|map('string')|map('replace', '1', query * 1000)) }}", "join would"),
    # Text made inside a block, a macro, or printed in one go.
    (
        "{% set x %}{% for i in range(1000) %}{{ candidates[0].text }}{% endfor %}{% endset %}",
        "the text of a macro or block would make",
    ),
    ("{{ dict.fromkeys(range(1000), candidates[0].text) }}", "the template built a value"),
]


@pytest.mark.parametrize(("source", "message"), REFUSED)
def test_the_sandbox_refuses_huge_values_before_making_them(source: str, message: str) -> None:
    with pytest.raises(TemplateLimitError) as caught:
        render(source)

    assert message in str(caught.value)
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "source",
    [
        # Doubling a string in a loop: through a namespace, with ~, + or a filter.
        "{% set ns = namespace(x=query) %}{% for i in range(64) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        "{% set ns = namespace(x=query) %}{% for i in range(64) %}"
        "{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "{% set ns = namespace(x='\"') %}{% for i in range(64) %}"
        "{% set ns.x = ns.x|tojson %}{% endfor %}",
        # A chain of sets, each twice the last, and a macro doubling its argument.
        "{% set a = candidates[0].text %}" + "".join("{% set a = a ~ a %}" for _ in range(40)),
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(query, 64) }}",
    ],
)
def test_growth_through_a_namespace_or_a_chain_stops_at_the_cap(source: str) -> None:
    with pytest.raises(TemplateLimitError, match=r"RELEVAL_MAX_PROMPT_BYTES"):
        render(source)


def test_many_values_each_under_the_cap_stop_at_the_work_budget() -> None:
    # Each upper() is a fresh 2,000-character value, none kept: they are counted all the
    # same, so a render cannot spend memory (or time) without bound on values it drops.
    source = "{% for i in range(10000) %}{% set x = candidates[0].text|upper %}{% endfor %}"

    with pytest.raises(TemplateLimitError) as caught:
        render(source)

    assert f"({WORK_FACTOR} × RELEVAL_MAX_PROMPT_BYTES)" in str(caught.value)


def test_a_prompt_over_the_cap_stops_while_rendering() -> None:
    source = (
        "{% for c in candidates %}{% for i in range(1000) %}{{ c.text }}{% endfor %}{% endfor %}"
    )

    with pytest.raises(TemplateLimitError) as caught:
        render(source)

    assert str(caught.value) == (
        "the prompt template rendered more than 100000 bytes for one prompt "
        "(RELEVAL_MAX_PROMPT_BYTES)"
    )


def test_the_cap_counts_utf8_bytes() -> None:
    limits = TemplateLimits(max_prompt_bytes=1000)

    assert len(render("{{ query }}", limits=limits, query="é" * 500)) == 500  # 1,000 bytes
    with pytest.raises(TemplateLimitError, match="more than 1000 bytes"):
        render("{{ query }}", limits=limits, query="é" * 501)


def test_ordinary_templates_stay_within_the_limits() -> None:
    source = (
        "{% set ns = namespace(total=0) %}"
        "{% for c in candidates %}{% set ns.total = ns.total + c.rank %}"
        "{{ '%3d' % c.rank }} {{ '{:>8}'.format(c.doc_id) }} {{ c.title|center(20) }}"
        "{{ c.text|truncate(50)|wordwrap(20)|indent(2) }} {{ c.title.ljust(12) ~ '|' }}"
        "{{ (c.title * 2)|replace(' ', '_') }}{{ [c.id] * 2 }}{{ c.rank * 3 }}\n"
        "{% endfor %}{{ ns.total }} {{ range(3)|batch(2, '-')|list }} "
        "{{ candidates|map(attribute='doc_id')|join(', ') }}"
    )

    prompt = render(source)

    assert prompt.startswith("  1       d1       title 1       word word word word\n  word")
    assert "title_1title_1[&#39;1&#39;, &#39;1&#39;]3" in prompt
    assert prompt.endswith("6 [[0, 1], [2, &#39;-&#39;]] d1, d2, d3")


def test_a_template_over_a_limit_on_the_samples_is_refused_when_saved() -> None:
    with pytest.raises(TemplateLimitError, match="the \\*\\* operator"):
        compile_template("Judge these.\n{{ 2 ** 8 }}")
    # The samples hold short documents: 200 copies of each fit in a 100 KB prompt, but
    # not in a 10 KB one.
    source = (
        "{% for c in candidates %}{% for i in range(200) %}{{ c.text }}{% endfor %}{% endfor %}"
    )
    compile_template(source, LIMITS)
    with pytest.raises(TemplateLimitError, match="more than 10000 bytes"):
        compile_template(source, TemplateLimits(max_prompt_bytes=10_000))


def test_lipsum_is_not_offered() -> None:
    with pytest.raises(TemplateError, match="'lipsum' is undefined") as caught:
        compile_template("{{ lipsum(1000000) }}")

    assert not isinstance(caught.value, TemplateLimitError)


def test_other_template_errors_are_not_limit_errors() -> None:
    # An ordinary error may depend on one document; only limits fail a run as a whole.
    with pytest.raises(TemplateError) as caught:
        render("{{ 1 / 0 }}")

    assert not isinstance(caught.value, TemplateLimitError)
