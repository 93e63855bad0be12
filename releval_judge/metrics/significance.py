"""Comparing systems: a paired randomisation test and Kendall's tau between rankings.

Pure and deterministic: the randomisation test draws its sign flips from a
``random.Random`` with a fixed seed, so the same data always give the same p-value.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

__all__ = ["DEFAULT_PERMUTATIONS", "DEFAULT_SEED", "kendall_tau_b", "paired_randomisation_test"]

DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 20240601
# Sign flips are looked up a byte at a time: each group of 8 queries has its 256 possible
# signed sums precomputed, which makes a permutation n/8 additions instead of n.
_GROUP = 8


def paired_randomisation_test(
    baseline: Sequence[float],
    other: Sequence[float],
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> float | None:
    """Two-sided p-value that ``other`` and ``baseline`` have the same mean, per query paired.

    Under the null hypothesis each query's difference is as likely to have either sign;
    the test flips the signs at random ``permutations`` times and counts how often the
    absolute mean difference is at least the observed one: ``p = (count + 1) /
    (permutations + 1)`` (Smucker, Allan & Carterette, 2007; the +1 counts the observed
    assignment, so p is never 0). None without any pair; 1.0 when every difference is 0.
    """
    if len(baseline) != len(other):
        raise ValueError("paired samples need the same number of values")
    diffs = [o - b for b, o in zip(baseline, other, strict=True)]
    if not diffs:
        return None
    observed = abs(math.fsum(diffs))
    if observed == 0.0:
        return 1.0
    # A flipped assignment ties the observed one up to rounding: compare with a margin.
    threshold = observed * (1 - 1e-12)
    tables: list[list[float]] = []
    for start in range(0, len(diffs), _GROUP):
        group = diffs[start : start + _GROUP]
        table = [0.0] * (1 << len(group))
        for mask in range(1 << len(group)):
            table[mask] = math.fsum(d if mask >> i & 1 else -d for i, d in enumerate(group))
        tables.append(table)
    rng = random.Random(seed)
    bits = len(diffs)
    at_least = 0
    for _ in range(permutations):
        flips = rng.getrandbits(bits)
        total = 0.0
        for table in tables:
            total += table[flips & 0xFF]
            flips >>= _GROUP
        if abs(total) >= threshold:
            at_least += 1
    return (at_least + 1) / (permutations + 1)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two scorings of the same items (ties counted as in SciPy's
    ``kendalltau``). None with fewer than two items or when either scoring is all ties.

    Scores equal up to rounding (1e-12 relative) are ties: two systems whose means are
    the same fraction summed in another order must not be ranked apart."""
    if len(x) != len(y):
        raise ValueError("both scorings need the same items")
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx = _difference(x[i], x[j])
            dy = _difference(y[i], y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    if n < 2 or denominator == 0:
        return None
    return (concordant - discordant) / denominator


def _difference(a: float, b: float) -> float:
    return 0.0 if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) else a - b
