"""The figures of an audit (DESIGN.md, "Audits"): pure, no I/O.

* **Agreement** of a pass with a reference: the share of candidates graded exactly the
  same, and Cohen's κ with quadratic weights on the scale's grades (``agreement.cohen_kappa``).
* **Position effect**: a document first in its batch in one pass is last in the other
  (each batch reversed), so each such document gives one pair (grade when first, grade
  when last). The effect is the mean difference, with a 95% interval from the normal
  approximation (mean ± 1.96 · sd / √n).
* **Verdict**: ``order_sensitive`` when the interval excludes 0 and |effect| ≥ 0.25 grade,
  else ``unstable`` when the repeat's exact agreement is below 0.8, else ``consistent``.
  κ is reported, not used: it forgives one-step changes, which are what a wavering judge makes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from releval_judge.models.audits import PassAgreement, PositionEffect, Verdict
from releval_judge.review.agreement import cohen_kappa, confusion_matrix, contingency

MIN_POSITION_EFFECT: Final = 0.25
"""A position effect smaller than this (in grades) is not called order sensitivity."""
MIN_REPEAT_EXACT: Final = 0.8
"""Below this share of identical grades on a repeat, a judge is called unstable."""
Z95: Final = statistics.NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class PositionPair:
    """One document's grades when first and when last in its batch (in two passes)."""

    first: int
    last: int


def pass_agreement(pairs: Sequence[tuple[int, int]], grades: Sequence[int]) -> PassAgreement:
    """Agreement of (reference, pass) grade pairs over the scale's ``grades``."""
    if not pairs:
        return PassAgreement(pairs=0, exact=None, weighted_kappa=None)
    exact = sum(a == b for a, b in pairs) / len(pairs)
    matrix = confusion_matrix(contingency(pairs), grades)
    kappa = cohen_kappa(matrix, "quadratic", grades)
    return PassAgreement(pairs=len(pairs), exact=exact, weighted_kappa=kappa)


def position_effect(pairs: Sequence[PositionPair]) -> PositionEffect:
    """Mean of first − last over ``pairs``, with its 95% interval (none under two pairs)."""
    if not pairs:
        return PositionEffect(first_minus_last=None, ci95=None, pairs=0)
    differences = [p.first - p.last for p in pairs]
    mean = statistics.fmean(differences)
    first = statistics.fmean(p.first for p in pairs)
    last = statistics.fmean(p.last for p in pairs)
    interval = None
    if len(differences) >= 2:
        half = Z95 * statistics.stdev(differences) / math.sqrt(len(differences))
        interval = (mean - half, mean + half)
    return PositionEffect(
        first_minus_last=mean,
        ci95=interval,
        pairs=len(differences),
        mean_first=first,
        mean_last=last,
    )


def verdict(repeat: PassAgreement, position: PositionEffect) -> Verdict:
    """The contract's rule: order sensitivity first, then instability, else consistent."""
    effect, interval = position.first_minus_last, position.ci95
    if (
        effect is not None
        and interval is not None
        and not interval[0] <= 0.0 <= interval[1]
        and abs(effect) >= MIN_POSITION_EFFECT
    ):
        return "order_sensitive"
    if repeat.exact is not None and repeat.exact < MIN_REPEAT_EXACT:
        return "unstable"
    return "consistent"
