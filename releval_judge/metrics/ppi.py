"""Prediction-powered inference (Angelopoulos et al., 2023) for the mean of a metric.

Setting: AI grades on all N queries, human grades on a random sample of n of them. For a
measure with per-query values ``ai`` (AI grades, every query), and on the sample ``human``
(human grades) and ``ai_sample`` (AI grades of the same queries), the estimate is

    θ̂ = mean(ai) + mean(human − ai_sample)

the AI-only mean corrected by the mean human − AI difference, unbiased for the mean
under human grades whatever the AI's bias. Its variance has two terms,
``var(ai) / N + var(human − ai_sample) / n``, and the confidence interval is the normal
approximation around θ̂. It beats the human-only mean when the AI tracks the humans
(the differences vary less than the human values themselves); when it does not, its
interval is wider than the human-only one and the human sample alone is the better
estimate. ``tests/unit/test_ppi.py`` checks the coverage on simulated data.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CONFIDENCE", "Interval", "ai_only", "human_only", "prediction_powered"]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval (``low``/``high`` None when undefined)."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int

    def clipped(self, low: float, high: float) -> Interval:
        """The estimate and the interval's ends within [low, high], the values the measure
        can take: the normal approximation knows no bounds (an AP interval ending at
        1.087), and no value outside them can be the truth, so clipping only drops what
        is impossible. `width` of the clipped interval is what is left of it."""

        def clip(value: float | None) -> float | None:
            return None if value is None else min(max(value, low), high)

        return Interval(clip(self.estimate), clip(self.low), clip(self.high), self.n)

    @property
    def width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return self.high - self.low


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def _variance(values: Sequence[float]) -> float:
    return statistics.variance(values) if len(values) > 1 else math.nan


def _interval(estimate: float, variance: float, n: int, confidence: float) -> Interval:
    if math.isnan(variance):
        return Interval(estimate, None, None, n)
    half = _z(confidence) * math.sqrt(variance)
    return Interval(estimate, estimate - half, estimate + half, n)


def human_only(human: Sequence[float], *, confidence: float = CONFIDENCE) -> Interval:
    """The mean of the human-graded sample, with a normal-approximation interval."""
    if not human:
        return Interval(None, None, None, 0)
    estimate = math.fsum(human) / len(human)
    return _interval(estimate, _variance(human) / len(human), len(human), confidence)


def ai_only(ai: Sequence[float], *, confidence: float = CONFIDENCE) -> Interval:
    """The mean under AI grades over every query. Its interval covers the sampling of
    queries only, not the AI judge's bias: it can exclude the human-graded truth."""
    return human_only(ai, confidence=confidence)


def prediction_powered(
    ai: Sequence[float],
    human: Sequence[float],
    ai_sample: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
) -> Interval:
    """θ̂ = mean(ai) + mean(human − ai_sample) with its interval (see the module doc).

    ``human`` and ``ai_sample`` are paired (the same sampled queries, in the same order).
    Undefined (None) without AI values or without a sample; the interval needs two of each.
    """
    if len(human) != len(ai_sample):
        raise ValueError("human and ai_sample must be paired")
    n, big_n = len(human), len(ai)
    if n == 0 or big_n == 0:
        return Interval(None, None, None, n)
    rectifier = [h - a for h, a in zip(human, ai_sample, strict=True)]
    estimate = math.fsum(ai) / big_n + math.fsum(rectifier) / n
    variance = _variance(ai) / big_n + _variance(rectifier) / n
    return _interval(estimate, variance, n, confidence)
