"""The paired randomisation test and Kendall's tau-b (pure)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from scipy.stats import kendalltau  # type: ignore[import-untyped]

from releval_judge.metrics.significance import kendall_tau_b, paired_randomisation_test


def _exact_p(baseline: list[float], other: list[float]) -> float:
    diffs = [o - b for b, o in zip(baseline, other, strict=True)]
    observed = abs(sum(diffs))
    flips = list(itertools.product((1, -1), repeat=len(diffs)))
    hits = sum(abs(sum(s * d for s, d in zip(signs, diffs, strict=True))) >= observed - 1e-12
               for signs in flips)  # fmt: skip
    return hits / len(flips)


def test_the_randomisation_p_value_approaches_the_exact_one() -> None:
    rng = random.Random(3)
    for _ in range(5):
        baseline = [rng.random() for _ in range(12)]
        other = [b + rng.gauss(0.1, 0.2) for b in baseline]
        p = paired_randomisation_test(baseline, other, permutations=20_000)
        assert p is not None
        assert p == pytest.approx(_exact_p(baseline, other), abs=0.01)


def test_the_p_value_is_repeatable_and_small_for_a_clear_difference() -> None:
    rng = random.Random(5)
    baseline = [rng.random() * 0.5 for _ in range(50)]
    better = [b + 0.2 + rng.gauss(0, 0.05) for b in baseline]
    p = paired_randomisation_test(baseline, better)
    assert p == paired_randomisation_test(baseline, better)
    assert p is not None and p == pytest.approx(1 / 10_001)  # no flip reaches the observed
    assert paired_randomisation_test(better, baseline) == p  # two-sided


def test_no_difference_or_no_pair() -> None:
    assert paired_randomisation_test([0.5, 0.2], [0.5, 0.2]) == 1.0
    assert paired_randomisation_test([], []) is None


def test_noise_alone_is_rarely_significant() -> None:
    rng = random.Random(11)
    significant = 0
    for _ in range(100):
        baseline = [rng.random() for _ in range(20)]
        other = [rng.random() for _ in range(20)]
        p = paired_randomisation_test(baseline, other, permutations=500, seed=rng.randrange(99))
        assert p is not None
        significant += p < 0.05
    assert significant <= 12  # about 5 expected


def test_kendall_tau_b_equals_scipy_with_and_without_ties() -> None:
    rng = random.Random(2)
    for n in (2, 3, 5, 8):
        for _ in range(20):
            x = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(n)]
            y = [rng.choice([0.1, 0.5, rng.random()]) for _ in range(n)]
            ours = kendall_tau_b(x, y)
            reference = kendalltau(x, y).statistic
            if math.isnan(reference):
                assert ours is None
            else:
                assert ours == pytest.approx(reference, abs=1e-12)


def test_kendall_tau_is_undefined_for_one_system_or_all_ties() -> None:
    assert kendall_tau_b([0.3], [0.4]) is None
    assert kendall_tau_b([0.3, 0.3], [0.1, 0.4]) is None
    assert kendall_tau_b([0.1, 0.2, 0.3], [0.5, 0.6, 0.9]) == 1.0
    assert kendall_tau_b([0.1, 0.2], [0.6, 0.5]) == -1.0
    # Equal up to rounding is a tie: (0.1 + 0.2) + 0.3 and 0.1 + (0.2 + 0.3) differ in the last bit.
    assert kendall_tau_b([0.1, (0.1 + 0.2) + 0.3, 0.1 + (0.2 + 0.3)], [1, 2, 3]) == pytest.approx(
        kendall_tau_b([0.1, 0.6, 0.6], [1, 2, 3])
    )
    assert kendall_tau_b([(0.1 + 0.2) + 0.3, 0.1 + (0.2 + 0.3)], [1, 2]) is None
