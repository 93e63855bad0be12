"""A judge panel's aggregate grade, disagreement flag and agreement figures: pure, no I/O.

Rules (docs/panels.md states them for users; ``tests/unit/test_panel_aggregate.py``
checks them):

- **majority**: the grade most members gave; a tie between grades goes to the *lower*
  grade (a panel that cannot decide does not call a document more relevant than half of
  it thinks).
- **mean**: the members' mean grade, rounded to the nearest grade, **half down**
  (1.5 → 1, 1.6 → 2).
- **median**: the middle grade; with an even number of grades the mean of the two middle
  ones, rounded half down (1 and 2 → 1, 1 and 3 → 2).
- Only the members that graded a candidate count (a member's per-candidate failure is not
  a vote); a candidate no member graded has no aggregate.
- **disagreement**: the grades span more than one grade (max − min > 1), or no grade was
  given by more than half of the members that graded the candidate (no strict majority).
  With two members, any difference is a disagreement. A candidate graded by one member
  only is not a disagreement (there is nobody to disagree with).
- **Fleiss' kappa** over the candidates every member graded (it needs the same number of
  ratings per item), categories the grades seen; ``None`` when undefined (fewer than two
  such candidates' worth of ratings, or every rating the same grade).
- **Krippendorff's alpha** (ordinal metric) over every candidate graded by at least two
  members (alpha accepts missing ratings); ``None`` when undefined.

Arithmetic is exact (``Fraction``), so the half-down rounding never depends on floats.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

__all__ = [
    "Aggregation",
    "PanelAgreement",
    "aggregate",
    "disagrees",
    "fleiss_kappa",
    "krippendorff_alpha_ordinal",
    "panel_agreement",
    "round_half_down",
]

Aggregation = Literal["majority", "mean", "median"]
AGGREGATIONS: tuple[Aggregation, ...] = ("majority", "mean", "median")


def round_half_down(value: Fraction) -> int:
    """The nearest integer, halves going down: 1/2 → 0, 3/2 → 1, -1/2 → -1."""
    return math.ceil(value - Fraction(1, 2))


def aggregate(grades: Sequence[int], how: Aggregation) -> int:
    """The panel's grade from its members' ``grades`` (at least one)."""
    if not grades:
        raise ValueError("no grades to aggregate")
    if how == "majority":
        counts = Counter(grades)
        top = max(counts.values())
        return min(g for g, n in counts.items() if n == top)
    if how == "mean":
        return round_half_down(Fraction(sum(grades), len(grades)))
    ordered = sorted(grades)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return round_half_down(Fraction(ordered[middle - 1] + ordered[middle], 2))


def disagrees(grades: Sequence[int]) -> bool:
    """Members' grades span more than one grade, or no grade has a strict majority."""
    if len(grades) < 2:
        return False
    if max(grades) - min(grades) > 1:
        return True
    top = max(Counter(grades).values())
    return 2 * top <= len(grades)


def fleiss_kappa(items: Iterable[Sequence[int]]) -> float | None:
    """Fleiss' kappa of items each rated by the same number of raters (≥ 2)."""
    rows = [Counter(grades) for grades in items]
    if not rows:
        return None
    raters = sum(rows[0].values())
    if raters < 2 or any(sum(r.values()) != raters for r in rows):
        raise ValueError("Fleiss' kappa needs the same number (≥ 2) of ratings per item")
    total = Fraction(len(rows) * raters)
    categories = sorted({g for r in rows for g in r})
    p_j = [Fraction(sum(r[c] for r in rows)) / total for c in categories]
    p_e = sum(p * p for p in p_j)
    if p_e == 1:
        return None
    p_i = [Fraction(sum(n * n for n in r.values()) - raters, raters * (raters - 1)) for r in rows]
    p_bar = sum(p_i, Fraction(0)) / len(rows)
    return float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha_ordinal(items: Iterable[Sequence[int]]) -> float | None:
    """Krippendorff's alpha, ordinal metric, of items with any number of ratings each
    (items with fewer than two are not pairable and left out)."""
    coincidence: dict[tuple[int, int], Fraction] = {}
    for grades in items:
        m = len(grades)
        if m < 2:
            continue
        counts = Counter(grades)
        for c, count_c in counts.items():
            for k, count_k in counts.items():
                pairs = count_c * (count_k - 1) if c == k else count_c * count_k
                if pairs:
                    coincidence[(c, k)] = coincidence.get((c, k), Fraction(0)) + Fraction(
                        pairs, m - 1
                    )
    categories = sorted({c for c, _ in coincidence})
    n_c: dict[int, Fraction] = {
        c: sum((v for (a, _), v in coincidence.items() if a == c), Fraction(0)) for c in categories
    }
    n = sum(n_c.values(), Fraction(0))
    if n <= 1:
        return None
    position = {c: i for i, c in enumerate(categories)}

    def delta2(c: int, k: int) -> Fraction:
        low, high = sorted((position[c], position[k]))
        between = sum((n_c[categories[g]] for g in range(low, high + 1)), Fraction(0))
        return (between - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum((v * delta2(c, k) for (c, k), v in coincidence.items() if c != k), Fraction(0))
    expected = sum(
        (n_c[c] * n_c[k] * delta2(c, k) for c in categories for k in categories if c != k),
        Fraction(0),
    )
    if expected == 0:
        return None
    return float(1 - (n - 1) * observed / expected)


@dataclass(frozen=True)
class PanelAgreement:
    """How far a panel's members agree, over the candidates they graded."""

    candidates: int
    """Candidates with at least one member grade (those with an aggregate)."""
    complete_candidates: int
    """Candidates every member graded (those Fleiss' kappa is computed over)."""
    disagreements: int
    fleiss_kappa: float | None
    krippendorff_alpha_ordinal: float | None


def panel_agreement(members: int, graded: Sequence[Sequence[int]]) -> PanelAgreement:
    """Agreement of a panel of ``members`` judges; ``graded`` holds, per candidate, the
    grades of the members that graded it."""
    complete = [g for g in graded if len(g) == members]
    return PanelAgreement(
        candidates=sum(1 for g in graded if g),
        complete_candidates=len(complete),
        disagreements=sum(1 for g in graded if disagrees(g)),
        fleiss_kappa=fleiss_kappa(complete) if members >= 2 else None,
        krippendorff_alpha_ordinal=krippendorff_alpha_ordinal(graded),
    )
