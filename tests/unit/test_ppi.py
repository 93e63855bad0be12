"""Prediction-powered estimates (pure), validated on simulated data.

Each simulated evaluation draws N queries whose human-graded metric follows Beta(2, 3)
(true mean 0.4) and an AI judge that is lenient (+0.15 on average, noisy, clipped to
[0, 1]); humans grade a random sample of n queries. Seeded, so the figures are the same
at every run.
"""

from __future__ import annotations

import random

import pytest

from releval_judge.metrics.ppi import ai_only, human_only, prediction_powered

TRUE_MEAN = 0.4
N, SAMPLE, SIMULATIONS = 400, 60, 2000


def _simulate(rng: random.Random) -> tuple[list[float], list[float], list[float]]:
    human_all = [rng.betavariate(2, 3) for _ in range(N)]
    ai_all = [min(1.0, max(0.0, h + 0.15 + rng.gauss(0, 0.08))) for h in human_all]
    sample = rng.sample(range(N), SAMPLE)
    return ai_all, [human_all[i] for i in sample], [ai_all[i] for i in sample]


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = random.Random(13)
    covered = ai_covered = 0
    ai_errors: list[float] = []
    ppi_widths: list[float] = []
    human_widths: list[float] = []
    for _ in range(SIMULATIONS):
        ai, human, ai_sample = _simulate(rng)
        ppi = prediction_powered(ai, human, ai_sample)
        assert ppi.low is not None and ppi.high is not None and ppi.width is not None
        covered += ppi.low <= TRUE_MEAN <= ppi.high
        only = ai_only(ai)
        assert only.estimate is not None and only.low is not None and only.high is not None
        ai_covered += only.low <= TRUE_MEAN <= only.high
        ai_errors.append(only.estimate - TRUE_MEAN)
        ppi_widths.append(ppi.width)
        width = human_only(human).width
        assert width is not None
        human_widths.append(width)
    assert 0.93 <= covered / SIMULATIONS <= 0.97
    # The AI-only estimate is biased: far off on average, and its interval misses.
    assert sum(ai_errors) / SIMULATIONS > 0.1
    assert ai_covered / SIMULATIONS < 0.05
    # An AI judge that tracks the humans makes the interval narrower than the sample's.
    assert sum(ppi_widths) < 0.6 * sum(human_widths)


def test_an_ai_judge_unrelated_to_the_humans_makes_the_interval_wider() -> None:
    rng = random.Random(4)
    human = [rng.betavariate(2, 3) for _ in range(SAMPLE)]
    ai_sample = [rng.random() for _ in range(SAMPLE)]
    ai = ai_sample + [rng.random() for _ in range(N - SAMPLE)]
    ppi = prediction_powered(ai, human, ai_sample)
    alone = human_only(human)
    assert ppi.width is not None and alone.width is not None
    assert ppi.width > alone.width


def test_the_estimate_by_hand() -> None:
    result = prediction_powered([0.5, 0.7, 0.9, 0.3], [0.2, 0.6], [0.5, 0.7])
    assert result.estimate == pytest.approx(0.6 + (-0.3 + -0.1) / 2)
    variance = 0.0666666666666 / 4 + 0.02 / 2
    assert result.high is not None and result.estimate is not None
    assert result.high - result.estimate == pytest.approx(1.959964 * variance**0.5, rel=1e-5)
    assert result.n == 2


def test_too_little_data_leaves_the_interval_undefined() -> None:
    assert prediction_powered([0.5], [], []).estimate is None
    one = prediction_powered([0.5, 0.6], [0.4], [0.5])
    assert one.estimate == pytest.approx(0.45) and one.low is None and one.width is None
    assert human_only([]).estimate is None
    with pytest.raises(ValueError):
        prediction_powered([0.5], [0.1, 0.2], [0.3])
