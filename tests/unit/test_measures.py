"""Retrieval measures (pure): parsing, hand-worked lists, and ir_measures on random lists."""

from __future__ import annotations

import math
import random

import ir_measures
import pytest

from releval_judge.metrics.measures import (
    Measure,
    RankedCandidate,
    RankedQuery,
    UnknownMeasure,
    grades_of,
    parse_measures,
    query_values,
    score_query,
)


def test_measure_names_parse_case_insensitively_in_order_without_duplicates() -> None:
    assert parse_measures("ndcg@10, P@5,ap,rr,judged@3,ndcg@10") == [
        Measure("ndcg", 10),
        Measure("p", 5),
        Measure("ap"),
        Measure("rr"),
        Measure("judged", 3),
    ]
    assert [m.key for m in parse_measures("NDCG@20,AP")] == ["ndcg@20", "ap"]


@pytest.mark.parametrize(
    "text", ["map", "ndcg", "ndcg@0", "p@-1", "ap@5", "recall@10", "", "ndcg@10,", "p@1000001"]
)
def test_unknown_measures_are_named(text: str) -> None:
    with pytest.raises(UnknownMeasure) as caught:
        parse_measures(text)
    bad = [part.strip() for part in text.split(",")][-1] if text.endswith(",") else text
    assert repr(bad) in str(caught.value)


def test_every_unknown_measure_is_named_at_once() -> None:
    with pytest.raises(UnknownMeasure) as caught:
        parse_measures("ndcg@10,map,bpref")
    assert caught.value.names == ["map", "bpref"]
    assert "'map', 'bpref'" in str(caught.value)


def test_a_hand_worked_list() -> None:
    # Scale 0–3, relevant from 2; positions 1..5: grades 1, None, 3, 0, 2.
    grades = [1, None, 3, 0, 2]
    values = query_values(
        grades,
        parse_measures("ndcg@3,p@2,p@5,ap,rr,judged@2,judged@10"),
        scale_min=0,
        relevant_min_grade=2,
    )
    dcg3 = 1 / math.log2(2) + 3 / math.log2(4)
    ideal3 = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert values["ndcg@3"] == pytest.approx(dcg3 / ideal3)
    assert values["p@2"] == 0.0
    assert values["p@5"] == pytest.approx(2 / 5)
    assert values["ap"] == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert values["rr"] == pytest.approx(1 / 3)
    assert values["judged@2"] == 0.5
    assert values["judged@10"] == pytest.approx(4 / 5)  # over the 5 candidates there are


def test_gain_is_counted_from_the_scales_lowest_grade() -> None:
    # Scale 1–5: a grade of 1 has no gain, so the list's nDCG is that of grade 5 alone.
    values = query_values([1, 5], parse_measures("ndcg@2"), scale_min=1, relevant_min_grade=3)
    assert values["ndcg@2"] == pytest.approx((4 / math.log2(3)) / 4)


def test_nothing_relevant_or_nothing_judged_scores_zero() -> None:
    measures = parse_measures("ndcg@5,p@5,ap,rr,judged@5")
    for grades in ([], [None, None], [0, 0, 1]):
        values = query_values(grades, measures, scale_min=0, relevant_min_grade=2)
        assert set(values) == {"ndcg@5", "p@5", "ap", "rr", "judged@5"}
        assert all(values[k] == 0.0 for k in ("p@5", "ap", "rr"))
    assert query_values([0, 0], measures, scale_min=0, relevant_min_grade=2)["ndcg@5"] == 0.0


def test_sources_choose_the_grade() -> None:
    query = RankedQuery(
        "q",
        (
            RankedCandidate("a", 1, ai_grade=3, human_grade=None),
            RankedCandidate("b", 2, ai_grade=None, human_grade=1),
            RankedCandidate("c", 3, ai_grade=2, human_grade=0),
            RankedCandidate("d", 4, ai_grade=None, human_grade=None),
        ),
    )
    assert grades_of(query, "ai") == [3, None, 2, None]
    assert grades_of(query, "human") == [None, 1, 0, None]
    assert grades_of(query, "human_else_ai") == [3, 1, 0, None]
    scores = score_query(
        query, parse_measures("rr"), ["ai", "human"], scale_min=0, relevant_min_grade=2
    )
    assert (scores.candidates, scores.ai_judged, scores.human_judged) == (4, 2, 2)
    assert scores.values == {"ai": {"rr": 1.0}, "human": {"rr": 0.0}}


def _random_list(rng: random.Random) -> list[int | None]:
    return [None if rng.random() < 0.3 else rng.randint(0, 4) for _ in range(rng.randint(1, 25))]


@pytest.mark.parametrize("relevant_min_grade", [1, 2, 3])
def test_measures_equal_ir_measures_on_random_lists(relevant_min_grade: int) -> None:
    rng = random.Random(relevant_min_grade)
    lists = {f"q{i}": _random_list(rng) for i in range(60)}
    qrels = [
        ir_measures.Qrel(qid, f"d{pos}", grade)
        for qid, grades in lists.items()
        for pos, grade in enumerate(grades)
        if grade is not None
    ]
    run = [
        ir_measures.ScoredDoc(qid, f"d{pos}", float(-pos))
        for qid, grades in lists.items()
        for pos in range(len(grades))
    ]
    rel = relevant_min_grade
    reference = {
        "ndcg@5": ir_measures.nDCG @ 5,
        "ndcg@10": ir_measures.nDCG @ 10,
        "p@5": ir_measures.P(rel=rel) @ 5,
        "p@30": ir_measures.P(rel=rel) @ 30,
        "ap": ir_measures.AP(rel=rel),
        "rr": ir_measures.RR(rel=rel),
        "judged@10": ir_measures.Judged @ 10,
    }
    expected: dict[tuple[str, str], float] = {}
    for name, measure in reference.items():
        for metric in ir_measures.iter_calc([measure], qrels, run):
            expected[(metric.query_id, name)] = metric.value
    measures = parse_measures(",".join(reference))
    compared = 0
    for qid, grades in lists.items():
        values = query_values(grades, measures, scale_min=0, relevant_min_grade=rel)
        for name in reference:
            if (qid, name) in expected:  # trec_eval skips queries without any judgment
                assert values[name] == pytest.approx(expected[(qid, name)], abs=1e-9), (qid, name)
                compared += 1
    assert compared > 300
