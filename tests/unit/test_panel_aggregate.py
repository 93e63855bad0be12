"""Panel aggregation rules, the disagreement flag, and the agreement statistics (Fleiss'
kappa against a textbook example, Krippendorff's alpha against the ``krippendorff``
package)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import krippendorff
import numpy as np
import pytest

from releval_judge.panels.aggregate import (
    aggregate,
    disagrees,
    fleiss_kappa,
    krippendorff_alpha_ordinal,
    panel_agreement,
    round_half_down,
)


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([2, 2, 3], 2),
        ([3, 3, 0], 3),
        ([1, 2], 1),  # tie: the lower grade
        ([0, 3, 3, 0], 0),  # tie between the extremes: the lower
        ([1, 2, 3], 1),  # three-way tie: the lowest
        ([3], 3),
    ],
)
def test_majority_ties_go_to_the_lower_grade(grades: list[int], expected: int) -> None:
    assert aggregate(grades, "majority") == expected


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([1, 2], 1),  # 1.5 rounds half down
        ([2, 3], 2),  # 2.5 → 2
        ([1, 2, 2], 2),  # 1.67 → 2
        ([1, 1, 2], 1),  # 1.33 → 1
        ([0, 3, 3], 2),  # 2.0
        ([0, 0, 0, 3], 1),  # 0.75 → 1
    ],
)
def test_mean_rounds_half_down(grades: list[int], expected: int) -> None:
    assert aggregate(grades, "mean") == expected


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([0, 3, 1], 1),
        ([3, 0, 3, 0, 2], 2),
        ([1, 2], 1),  # even count: mean of the two middle ones, half down
        ([0, 1, 3, 3], 2),  # middle 1 and 3 → 2
        ([0, 2, 3, 3], 2),  # middle 2 and 3 → 2.5 → 2
    ],
)
def test_median(grades: list[int], expected: int) -> None:
    assert aggregate(grades, "median") == expected


def test_round_half_down() -> None:
    assert [round_half_down(Fraction(n, 2)) for n in range(-3, 4)] == [-2, -1, -1, 0, 0, 1, 1]


def test_aggregate_needs_a_grade() -> None:
    with pytest.raises(ValueError, match="no grades"):
        aggregate([], "mean")


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([2, 2, 2], False),
        ([2, 2, 3], False),  # adjacent, and 2 has a strict majority
        ([0, 2, 2], True),  # spans two grades
        ([1, 2], True),  # two members, no strict majority
        ([1, 1, 2, 2], True),  # no strict majority
        ([1, 1, 1, 2], False),
        ([3], False),  # nobody to disagree with
        ([], False),
    ],
)
def test_disagreement_flag(grades: list[int], expected: bool) -> None:
    assert disagrees(grades) is expected


def test_fleiss_kappa_textbook_example() -> None:
    """Fleiss (1971) as reproduced on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14
    raters, 5 categories; kappa = 0.210 (P̄ = 0.378, P_e = 0.213)."""
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    items = [[grade for grade, n in enumerate(row) for _ in range(n)] for row in table]
    kappa = fleiss_kappa(items)
    assert kappa is not None
    assert kappa == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_kappa_hand_computed() -> None:
    """Two items, two raters: (0, 0) and (0, 1). P̄ = (1 + 0)/2 = 1/2; p = (3/4, 1/4),
    P_e = 10/16; kappa = (1/2 − 5/8)/(1 − 5/8) = −1/3."""
    assert fleiss_kappa([[0, 0], [0, 1]]) == pytest.approx(-1 / 3)


def test_fleiss_kappa_perfect_and_undefined() -> None:
    assert fleiss_kappa([[0, 0, 0], [3, 3, 3]]) == pytest.approx(1.0)
    assert fleiss_kappa([[2, 2], [2, 2]]) is None  # one grade throughout: chance explains all
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[0, 1], [0, 1, 2]])


def test_krippendorff_alpha_against_the_package() -> None:
    rng = random.Random(13)
    for _ in range(20):
        raters, items = rng.randint(2, 5), rng.randint(5, 40)
        matrix: list[list[float]] = [[math.nan] * items for _ in range(raters)]
        graded: list[list[int]] = []
        for i in range(items):
            truth = rng.randint(0, 3)
            grades = []
            for r in range(raters):
                if rng.random() < 0.15:
                    continue  # a member's per-candidate failure: missing
                grade = min(3, max(0, truth + rng.choice([-1, 0, 0, 1])))
                matrix[r][i] = grade
                grades.append(grade)
            graded.append(grades)
        ours = krippendorff_alpha_ordinal(graded)
        with np.errstate(invalid="ignore"):  # undefined: the package divides 0 by 0
            reference = krippendorff.alpha(
                reliability_data=np.array(matrix),
                level_of_measurement="ordinal",
                value_domain=[0, 1, 2, 3],
            )
        if ours is None:  # undefined for us exactly when it is for the package
            assert math.isnan(reference), (graded, reference)
        else:
            assert ours == pytest.approx(reference, abs=1e-9)


def test_panel_agreement_counts() -> None:
    result = panel_agreement(3, [[2, 2, 2], [0, 2, 3], [1, 2], []])
    assert result.candidates == 3
    assert result.complete_candidates == 2
    assert result.disagreements == 2  # [0, 2, 3] spans three grades; [1, 2] has no majority
    assert result.fleiss_kappa == pytest.approx(fleiss_kappa([[2, 2, 2], [0, 2, 3]]))
