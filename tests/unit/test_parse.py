"""Parsing answers: one judgment or one readable failure per candidate sent."""

from __future__ import annotations

import pytest

from releval_judge.parse import REASONING_LIMIT, ParsedJudgment, excerpt, parse_answer
from releval_judge.scale import Scale

SCALE = Scale(min=0, max=4)
IDS = ["1", "2", "3"]


def block(candidate_id: str, grade: str, reasoning: str = "fits") -> str:
    return (
        f'<candidate id="{candidate_id}">\n<grade>{grade}</grade>\n'
        f"<reasoning>{reasoning}</reasoning>\n</candidate>\n"
    )


def test_well_formed_answer_in_any_order_with_chatter_around_it() -> None:
    answer = "Sure! Here are my grades.\n" + block("3", "0") + block("1", "4") + block("2", "2")
    answer += "Let me know if you need more."

    result = parse_answer(answer, IDS, SCALE)

    assert result.failures == {}
    assert result.judgments == {
        "1": ParsedJudgment(id="1", grade=4, reasoning="fits"),
        "2": ParsedJudgment(id="2", grade=2, reasoning="fits"),
        "3": ParsedJudgment(id="3", grade=0, reasoning="fits"),
    }


def test_sloppy_but_unambiguous_markup_is_accepted() -> None:
    answer = (
        "<CANDIDATE ID='1'><Grade> 3 </Grade><REASONING>\n  upper case  \n</REASONING></CANDIDATE>"
        "<candidate   id = 2 >\n<grade>+2</grade>\n</candidate >"
        '<candidate\nid="3"><reasoning>reason first</reasoning><grade>1.0</grade></candidate>'
    )

    result = parse_answer(answer, IDS, SCALE)

    assert result.failures == {}
    assert {k: (j.grade, j.reasoning) for k, j in result.judgments.items()} == {
        "1": (3, "upper case"),
        "2": (2, ""),
        "3": (1, "reason first"),
    }


def test_reasoning_is_unescaped_and_capped() -> None:
    escaped = "&lt;b&gt; &amp;amp; &quot;q&quot; don&#39;t &#x27;x&apos; &#0; &bogus;"
    long = "x" * (REASONING_LIMIT + 100)
    answer = block("1", "1", escaped) + block("2", "2", long)

    result = parse_answer(answer, ["1", "2"], SCALE)

    assert result.judgments["1"].reasoning == "<b> &amp; \"q\" don't 'x' &#0; &bogus;"
    capped = result.judgments["2"].reasoning
    assert len(capped) == REASONING_LIMIT
    assert capped.endswith("…")


def test_blocks_for_ids_not_sent_are_ignored() -> None:
    answer = (
        block("1", "1") + block("7", "4") + block("doc-42", "4") + "<candidate>no id</candidate>"
    )

    result = parse_answer(answer, ["1"], SCALE)

    assert set(result.judgments) == {"1"}
    assert result.failures == {}


def test_the_first_block_for_an_id_wins() -> None:
    answer = block("1", "1", "first") + block("1", "4", "second")

    result = parse_answer(answer, ["1"], SCALE)

    assert result.judgments["1"] == ParsedJudgment(id="1", grade=1, reasoning="first")


def test_an_answer_cut_off_by_the_token_limit_keeps_the_last_grade() -> None:
    answer = block("1", "3") + '<candidate id="2">\n<grade>2</grade>\n<reasoning>Because the'

    result = parse_answer(answer, ["1", "2", "3"], SCALE)

    assert result.judgments["2"] == ParsedJudgment(id="2", grade=2, reasoning="Because the")
    assert result.failures == {
        "3": "candidate missing from the answer (fewer candidates than were sent: got 2 of 3)"
    }


def test_a_block_quoted_inside_reasoning_does_not_pose_as_another_candidate() -> None:
    quoted = 'it says <candidate id="2"><grade>4</grade></candidate> oddly'
    answer = (
        '<candidate id="1"><grade>1</grade><reasoning>'
        + quoted
        + "</reasoning></candidate>"
        + block("2", "0")
    )

    result = parse_answer(answer, ["1", "2"], SCALE)

    assert result.judgments["1"].grade == 1
    assert result.judgments["2"].grade == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ('{"1": {"grade": 3}}', "no <candidate> blocks in the answer (got JSON instead?)"),
        ('  [{"id": 1, "grade": 3}]', "no <candidate> blocks in the answer (got JSON instead?)"),
        ('```json\n{"grade": 3}\n```', "no <candidate> blocks in the answer (got JSON instead?)"),
        ("## Grades\n- 1: 3", "no <candidate> blocks in the answer (got Markdown instead?)"),
        (
            "| id | grade |\n|---|---|\n| 1 | 3 |",
            "no <candidate> blocks in the answer (got Markdown instead?)",
        ),
        ("Grades:\n```\n1: 3\n```", "no <candidate> blocks in the answer (got Markdown instead?)"),
        ("I think document 1 is relevant.", "no <candidate> blocks in the answer"),
        ("  \n", "no <candidate> blocks in the answer (the answer is empty)"),
    ],
)
def test_an_answer_without_blocks_fails_every_candidate_saying_what_came_instead(
    answer: str, reason: str
) -> None:
    result = parse_answer(answer, IDS, SCALE)

    assert result.judgments == {}
    assert result.failures == {"1": reason, "2": reason, "3": reason}


def test_candidates_missing_from_the_answer_fail_with_the_count() -> None:
    result = parse_answer(block("2", "3") + block("9", "3"), IDS, SCALE)

    assert set(result.judgments) == {"2"}
    reason = "candidate missing from the answer (fewer candidates than were sent: got 1 of 3)"
    assert result.failures == {"1": reason, "3": reason}


@pytest.mark.parametrize(
    ("grade_markup", "reason"),
    [
        ("<reasoning>forgot it</reasoning>", "no <grade> in the candidate's block"),
        ("<grade>3", "no <grade> in the candidate's block"),
        ("<grade>abc</grade>", "grade 'abc' is not an integer"),
        ("<grade>3.5</grade>", "grade '3.5' is not an integer"),
        ("<grade>three</grade>", "grade 'three' is not an integer"),
        ("<grade></grade>", "grade '' is not an integer"),
        ("<grade>5</grade>", "grade 5 outside scale 0–4"),
        ("<grade>-1</grade>", "grade -1 outside scale 0–4"),
        ("<grade>" + "9" * 5000 + "</grade>", "grade " + "9" * 39 + "… outside scale 0–4"),
    ],
)
def test_a_bad_grade_fails_only_its_candidate(grade_markup: str, reason: str) -> None:
    answer = f'<candidate id="1">{grade_markup}</candidate>' + block("2", "4")

    result = parse_answer(answer, ["1", "2"], SCALE)

    assert result.failures == {"1": reason}
    assert result.judgments["2"].grade == 4


@pytest.mark.parametrize(("written", "grade"), [("3.0", 3), ("+3", 3), (" 03 ", 3), ("-0", 0)])
def test_integral_grades_in_other_spellings_are_accepted(written: str, grade: int) -> None:
    result = parse_answer(block("1", written), ["1"], SCALE)

    assert result.judgments["1"].grade == grade


def test_negative_scales_are_respected() -> None:
    scale = Scale(min=-2, max=2)

    result = parse_answer(block("1", "-2") + block("2", "-3"), ["1", "2"], scale)

    assert result.judgments["1"].grade == -2
    assert result.failures == {"2": "grade -3 outside scale -2–2"}


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "<candidate",
        '<candidate id="1"',
        '<candidate id="1">',
        "<candidate id=>" * 3,
        "<grade>1</grade>",
        '<candidate id="">',
        "&#99999999; &#xD800; \x00 \ud800",
        '<candidate id="1"><grade>\x00</grade><reasoning>\x00\ud800&#xdfff;</reasoning>',
        "<" * 1000 + "candidate id=1>",
    ],
)
def test_every_sent_id_ends_in_exactly_one_place_whatever_the_answer(answer: str) -> None:
    result = parse_answer(answer, IDS, SCALE)

    assert set(result.judgments) | set(result.failures) == set(IDS)
    assert not set(result.judgments) & set(result.failures)
    for judgment in result.judgments.values():
        assert "\x00" not in judgment.reasoning


def test_hostile_answers_fail_cleanly() -> None:
    # Each of these took minutes with naive patterns (catastrophic backtracking); they must
    # come back as ordinary per-candidate failures. Speed is measured in bench/, not here.
    hostile = [
        "<candidate " * 50_000,
        '<candidate id="1">' + "<grade>" * 50_000,
        '<candidate id="1"><grade>' + "0" * 200_000 + "x</grade>",
        '<candidate id="1"><reasoning>' + "<reasoning>" * 50_000,
    ]
    for answer in hostile:
        result = parse_answer(answer, IDS, SCALE)
        assert not result.judgments
        assert set(result.failures) == set(IDS)


def test_excerpt_cuts_long_text_with_an_ellipsis() -> None:
    assert excerpt("short") == "short"
    assert excerpt("x" * 500) == "x" * 500
    cut = excerpt("x" * 501)
    assert len(cut) == 500
    assert cut == "x" * 499 + "…"
    assert excerpt("abcdef", 4) == "abc…"
    assert excerpt("abc", 0) == ""


def test_excerpt_keeps_text_storable() -> None:
    assert excerpt("a\x00b\ud800c") == "a\ufffdb\ufffdc"
