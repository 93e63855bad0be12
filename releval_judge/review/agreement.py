"""How far an AI judge agrees with a human judge: pure statistics over a contingency table.

Everything is computed from the counts of (human grade, AI grade) pairs, so a run of a
million candidates costs the database one ``GROUP BY`` and this module a few thousand
operations (a scale has at most 101 grades). No numpy: the sums are small.

Definitions (``tests/unit/test_agreement.py`` checks them against scikit-learn's
``cohen_kappa_score`` and the ``krippendorff`` package):

- Cohen's kappa ``1 - Σ w·O / Σ w·E`` with ``O`` the observed and ``E`` the expected
  (product of marginals) counts; weights ``w`` are 0 on the diagonal and 1 elsewhere
  (unweighted) or ``(i - j)²`` over the grades' positions on the scale (quadratic).
- Krippendorff's alpha with the ordinal metric, for two coders with no missing values:
  the coincidence matrix is ``O + Oᵀ``, ``δ²(c, k) = (Σ_{g=c..k} n_g - (n_c + n_k)/2)²``.
- A statistic whose expected disagreement is zero (both judges gave one and the same
  grade throughout, so chance explains all agreement) is undefined: ``None``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Agreement",
    "agreement",
    "binarised",
    "cohen_kappa",
    "confusion_matrix",
    "contingency",
    "default_relevant_from",
    "krippendorff_alpha_ordinal",
]

Matrix = list[list[int]]


@dataclass(frozen=True)
class Agreement:
    """The agreement figures of ``pairs`` (human, AI) pairs; ``None`` where undefined."""

    grades: list[int]
    pairs: int
    exact: float | None
    within_one: float | None
    cohen_kappa: float | None
    cohen_kappa_quadratic: float | None
    krippendorff_alpha_ordinal: float | None
    relevant_from: int
    binary_kappa: float | None
    binary_agreement: float | None
    confusion: Matrix
    """``confusion[i][j]``: pairs the human graded ``grades[i]`` and the AI ``grades[j]``."""
    mean_signed_difference: float | None
    """Mean of AI − human: positive when the AI judge is more lenient."""


def default_relevant_from(low: int, high: int) -> int:
    """The scale's midpoint rounded up: 0–3 → 2, 0–4 → 2, 0–1 → 1, 1–5 → 3."""
    return math.ceil((low + high) / 2)


def contingency(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Count (human, AI) pairs."""
    return dict(Counter(pairs))


def confusion_matrix(counts: Mapping[tuple[int, int], int], grades: Sequence[int]) -> Matrix:
    """Counts laid out over ``grades`` (rows human, columns AI); a grade outside is an error."""
    index = {g: i for i, g in enumerate(grades)}
    matrix = [[0] * len(grades) for _ in grades]
    for (human, ai), count in counts.items():
        if human not in index or ai not in index:
            raise ValueError(f"pair ({human}, {ai}) outside the grades {list(grades)}")
        matrix[index[human]][index[ai]] += count
    return matrix


def cohen_kappa(
    matrix: Matrix, weights: Literal["none", "quadratic"] = "none", positions: Sequence[int] = ()
) -> float | None:
    """Cohen's kappa of a square contingency table.

    ``positions`` are the categories' values for quadratic weights (default 0, 1, 2, …).
    """
    size = len(matrix)
    total = sum(map(sum, matrix))
    if total == 0:
        return None
    where = list(positions) if positions else list(range(size))
    rows = [sum(r) for r in matrix]
    cols = [sum(matrix[i][j] for i in range(size)) for j in range(size)]
    observed = 0.0
    expected = 0.0
    for i in range(size):
        for j in range(size):
            if i == j:
                continue
            w = 1.0 if weights == "none" else float((where[i] - where[j]) ** 2)
            observed += w * matrix[i][j]
            expected += w * rows[i] * cols[j] / total
    if expected == 0:
        return None
    return 1.0 - observed / expected


def krippendorff_alpha_ordinal(matrix: Matrix) -> float | None:
    """Krippendorff's alpha (ordinal) of two coders who both rated every unit."""
    size = len(matrix)
    coincidence = [[matrix[i][j] + matrix[j][i] for j in range(size)] for i in range(size)]
    n_c = [sum(r) for r in coincidence]
    n = sum(n_c)
    if n <= 1:
        return None
    cumulative = [0]
    for value in n_c:
        cumulative.append(cumulative[-1] + value)

    def delta2(c: int, k: int) -> float:
        low, high = min(c, k), max(c, k)
        between = cumulative[high + 1] - cumulative[low]
        return float((between - (n_c[c] + n_c[k]) / 2) ** 2)

    observed = 0.0
    expected = 0.0
    for c in range(size):
        for k in range(size):
            if c == k:
                continue
            d = delta2(c, k)
            observed += coincidence[c][k] * d
            expected += n_c[c] * n_c[k] * d
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def binarised(matrix: Matrix, grades: Sequence[int], relevant_from: int) -> Matrix:
    """The 2×2 table of not relevant (grade < ``relevant_from``) and relevant."""
    table = [[0, 0], [0, 0]]
    for i, human in enumerate(grades):
        for j, ai in enumerate(grades):
            table[int(human >= relevant_from)][int(ai >= relevant_from)] += matrix[i][j]
    return table


def agreement(
    counts: Mapping[tuple[int, int], int], grades: Sequence[int], relevant_from: int
) -> Agreement:
    """Every figure of the agreement report, from (human, AI) pair counts over ``grades``."""
    grades = list(grades)
    matrix = confusion_matrix(counts, grades)
    pairs = sum(map(sum, matrix))
    binary = binarised(matrix, grades, relevant_from)

    def share(hit: int) -> float | None:
        return hit / pairs if pairs else None

    exact = sum(matrix[i][i] for i in range(len(grades)))
    within = sum(
        matrix[i][j]
        for i in range(len(grades))
        for j in range(len(grades))
        if abs(grades[i] - grades[j]) <= 1
    )
    difference = sum(
        (grades[j] - grades[i]) * matrix[i][j]
        for i in range(len(grades))
        for j in range(len(grades))
    )
    return Agreement(
        grades=grades,
        pairs=pairs,
        exact=share(exact),
        within_one=share(within),
        cohen_kappa=cohen_kappa(matrix),
        cohen_kappa_quadratic=cohen_kappa(matrix, "quadratic", grades),
        krippendorff_alpha_ordinal=krippendorff_alpha_ordinal(matrix),
        relevant_from=relevant_from,
        binary_kappa=cohen_kappa(binary),
        binary_agreement=share(binary[0][0] + binary[1][1]),
        confusion=matrix,
        mean_signed_difference=difference / pairs if pairs else None,
    )
