"""The figures and the verdict of an audit (releval_judge/review/audits.py), against the
contract's rule and scikit-learn's weighted κ."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from releval_judge.models.audits import PassAgreement, PositionEffect
from releval_judge.review.audits import (
    PositionPair,
    pass_agreement,
    position_effect,
    verdict,
)

GRADES = [0, 1, 2, 3]


def test_agreement_is_exact_share_and_quadratic_kappa() -> None:
    pairs = [(0, 0), (1, 1), (2, 3), (3, 3), (1, 0), (2, 2)]
    figures = pass_agreement(pairs, GRADES)
    assert figures.pairs == 6
    assert figures.exact == pytest.approx(4 / 6)
    reference = cohen_kappa_score(
        [a for a, _ in pairs], [b for _, b in pairs], weights="quadratic", labels=GRADES
    )
    assert figures.weighted_kappa == pytest.approx(reference)


def test_no_pairs_no_figures() -> None:
    assert pass_agreement([], GRADES) == PassAgreement(pairs=0, exact=None, weighted_kappa=None)
    assert position_effect([]) == PositionEffect(first_minus_last=None, ci95=None, pairs=0)


def test_position_effect_is_the_mean_with_a_normal_interval() -> None:
    pairs = [
        PositionPair(first=2, last=1),
        PositionPair(first=3, last=3),
        PositionPair(first=2, last=1),
        PositionPair(first=1, last=0),
    ]
    effect = position_effect(pairs)
    assert effect.first_minus_last == pytest.approx(0.75)
    assert effect.ci95 is not None
    low, high = effect.ci95
    # sd of (1, 0, 1, 1) is 0.5: half-width 1.96 * 0.5 / 2.
    assert (low, high) == pytest.approx((0.75 - 0.48999, 0.75 + 0.48999), abs=1e-4)
    assert position_effect(pairs[:1]).ci95 is None


def _effect(mean: float, low: float, high: float) -> PositionEffect:
    return PositionEffect(first_minus_last=mean, ci95=(low, high), pairs=40)


@pytest.mark.parametrize(
    ("exact", "effect", "expected"),
    [
        (1.0, _effect(0.6, 0.4, 0.8), "order_sensitive"),
        (0.5, _effect(-0.3, -0.5, -0.1), "order_sensitive"),  # either direction
        (1.0, _effect(0.2, 0.1, 0.3), "consistent"),  # excludes 0 but under 0.25 grade
        (1.0, _effect(0.4, -0.1, 0.9), "consistent"),  # large but not shown
        (0.79, _effect(0.0, -0.1, 0.1), "unstable"),
        (0.8, _effect(0.0, 0.0, 0.0), "consistent"),
    ],
)
def test_the_verdict_follows_the_contract(
    exact: float, effect: PositionEffect, expected: str
) -> None:
    repeat = PassAgreement(pairs=40, exact=exact, weighted_kappa=None)
    assert verdict(repeat, effect) == expected


def test_the_position_effect_reports_the_mean_grades_when_first_and_when_last() -> None:
    effect = position_effect([PositionPair(first=3, last=1), PositionPair(first=2, last=2)])
    assert (effect.mean_first, effect.mean_last, effect.first_minus_last) == (2.5, 1.5, 1.0)
    one = position_effect([PositionPair(first=1, last=0)])
    assert (one.mean_first, one.mean_last, one.ci95) == (1.0, 0.0, None)
    none = position_effect([])
    assert (none.mean_first, none.mean_last) == (None, None)
