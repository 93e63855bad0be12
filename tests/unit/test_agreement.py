"""Agreement statistics, checked against reference implementations on random data."""

from __future__ import annotations

import math
import random
import warnings

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from releval_judge.review.agreement import (
    agreement,
    cohen_kappa,
    contingency,
    default_relevant_from,
    krippendorff_alpha_ordinal,
)


def _random_pairs(rng: random.Random, low: int, high: int, n: int) -> list[tuple[int, int]]:
    """A human and an AI judge that agree more than chance, with some noise and bias."""
    pairs = []
    for _ in range(n):
        human = rng.randint(low, high)
        ai = min(high, max(low, human + rng.choice([-2, -1, 0, 0, 0, 1, 1])))
        if rng.random() < 0.2:
            ai = rng.randint(low, high)
        pairs.append((human, ai))
    return pairs


def _reference_kappa(pairs: list[tuple[int, int]], grades: list[int], weights: str | None) -> float:
    humans = [h for h, _ in pairs]
    ais = [a for _, a in pairs]
    value: float = cohen_kappa_score(humans, ais, labels=grades, weights=weights)
    return value


def _reference_alpha(pairs: list[tuple[int, int]]) -> float:
    data = np.array([[h for h, _ in pairs], [a for _, a in pairs]], dtype=float)
    value: float = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    return value


SCALES = [(0, 1), (0, 3), (0, 4), (1, 5), (-2, 2), (0, 10)]


@pytest.mark.parametrize("seed", range(20))
def test_kappas_and_alpha_match_scikit_learn_and_krippendorff(seed: int) -> None:
    rng = random.Random(seed)
    low, high = SCALES[seed % len(SCALES)]
    grades = list(range(low, high + 1))
    pairs = _random_pairs(rng, low, high, rng.randint(2, 400))

    result = agreement(contingency(pairs), grades, default_relevant_from(low, high))

    assert result.pairs == len(pairs)
    assert result.cohen_kappa == pytest.approx(_reference_kappa(pairs, grades, None), abs=1e-9)
    assert result.cohen_kappa_quadratic == pytest.approx(
        _reference_kappa(pairs, grades, "quadratic"), abs=1e-9
    )
    assert result.krippendorff_alpha_ordinal == pytest.approx(_reference_alpha(pairs), abs=1e-9)
    relevant = result.relevant_from
    binary_reference = cohen_kappa_score(
        [int(h >= relevant) for h, _ in pairs], [int(a >= relevant) for _, a in pairs]
    )
    if math.isnan(binary_reference):
        assert result.binary_kappa is None
    else:
        assert result.binary_kappa == pytest.approx(binary_reference, abs=1e-9)
    assert result.exact == pytest.approx(sum(h == a for h, a in pairs) / len(pairs))
    assert result.within_one == pytest.approx(sum(abs(h - a) <= 1 for h, a in pairs) / len(pairs))
    assert result.mean_signed_difference == pytest.approx(sum(a - h for h, a in pairs) / len(pairs))


def test_quadratic_weights_follow_the_grades_even_when_one_is_never_given() -> None:
    """Grade 2 unused: 1 vs 3 is still two steps apart (sklearn needs ``labels`` for that)."""
    pairs = [(0, 0), (1, 3), (3, 1), (3, 3), (1, 1), (0, 1)]
    grades = [0, 1, 2, 3]
    result = agreement(contingency(pairs), grades, 2)
    assert result.cohen_kappa_quadratic == pytest.approx(
        _reference_kappa(pairs, grades, "quadratic"), abs=1e-12
    )
    assert result.krippendorff_alpha_ordinal == pytest.approx(_reference_alpha(pairs), abs=1e-12)


def test_confusion_matrix_is_labelled_rows_human_columns_ai() -> None:
    result = agreement(contingency([(0, 2), (0, 2), (2, 0), (1, 1)]), [0, 1, 2], 1)
    assert result.grades == [0, 1, 2]
    assert result.confusion == [[0, 0, 2], [0, 1, 0], [1, 0, 0]]
    assert result.mean_signed_difference == pytest.approx((2 + 2 - 2 + 0) / 4)


def test_a_more_lenient_ai_has_a_positive_mean_signed_difference() -> None:
    result = agreement(contingency([(0, 1), (1, 2), (2, 3), (3, 3)]), [0, 1, 2, 3], 2)
    assert result.mean_signed_difference == pytest.approx(0.75)
    assert result.exact == pytest.approx(0.25)
    assert result.within_one == pytest.approx(1.0)


def test_no_pairs_gives_zero_pairs_and_nulls() -> None:
    result = agreement({}, [0, 1, 2, 3], 2)
    assert result.pairs == 0
    assert result.confusion == [[0] * 4 for _ in range(4)]
    for value in [
        result.exact,
        result.within_one,
        result.cohen_kappa,
        result.cohen_kappa_quadratic,
        result.krippendorff_alpha_ordinal,
        result.binary_kappa,
        result.binary_agreement,
        result.mean_signed_difference,
    ]:
        assert value is None


def test_all_identical_grades_agree_perfectly_but_kappa_and_alpha_are_undefined() -> None:
    pairs = [(2, 2)] * 10
    result = agreement(contingency(pairs), [0, 1, 2, 3], 2)
    assert (result.exact, result.within_one, result.mean_signed_difference) == (1.0, 1.0, 0.0)
    assert result.cohen_kappa is None
    assert result.cohen_kappa_quadratic is None
    assert result.krippendorff_alpha_ordinal is None
    assert result.binary_kappa is None
    # The references agree that these are undefined.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(_reference_kappa(pairs, [0, 1, 2, 3], None))
    with pytest.raises(ValueError, match="more than one value"):
        _reference_alpha(pairs)


def test_perfect_agreement_with_variety_is_one() -> None:
    pairs = [(0, 0), (1, 1), (2, 2), (3, 3), (3, 3)]
    result = agreement(contingency(pairs), [0, 1, 2, 3], 2)
    assert result.cohen_kappa == pytest.approx(1.0)
    assert result.cohen_kappa_quadratic == pytest.approx(1.0)
    assert result.krippendorff_alpha_ordinal == pytest.approx(1.0)
    assert result.binary_kappa == pytest.approx(1.0)


def test_systematic_disagreement_is_negative() -> None:
    pairs = [(0, 3), (3, 0)] * 5
    assert (cohen_kappa([[0, 5], [5, 0]]) or 0) < 0
    result = agreement(contingency(pairs), [0, 1, 2, 3], 2)
    assert (result.cohen_kappa or 0) < 0
    assert (result.krippendorff_alpha_ordinal or 0) < 0


def test_one_pair_has_no_alpha_beyond_what_it_can_say() -> None:
    assert krippendorff_alpha_ordinal([[0, 1], [0, 0]]) == pytest.approx(
        _reference_alpha([(0, 1)]), abs=1e-12
    )


@pytest.mark.parametrize(
    ("low", "high", "expected"), [(0, 3, 2), (0, 4, 2), (0, 1, 1), (1, 5, 3), (-2, 2, 0)]
)
def test_relevant_from_defaults_to_the_midpoint_rounded_up(
    low: int, high: int, expected: int
) -> None:
    assert default_relevant_from(low, high) == expected


def test_pairs_outside_the_grades_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        agreement({(0, 9): 1}, [0, 1, 2, 3], 2)
