"""How a simulated judge departs from its steady lexical grades, so that tests can show an
audit tells a trustworthy judge from an untrustworthy one (docs/simulator.md, "Judges that
cannot be trusted").

* **Position bias**: the first document of each prompt gets ``position_bias`` grades more
  than its lexical grade (capped at the scale's top), whatever the document. A batch is one
  prompt, so a document first in one batch and last in another is graded differently.
* **Wavering**: each grade moves one step, up or down at random, with probability
  ``waver_rate`` per candidate per call (a step off the scale goes the other way, so a
  wavered grade always differs from the steady one). The same prompt sent twice then
  comes back with different grades.

Pure functions: the caller passes the random source (seeded from ``SimConfig.seed``).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from releval_judge.sim.config import SimConfig
from releval_judge.sim.grader import Judgment, Prompt


def applies(config: SimConfig, model: str) -> bool:
    """True when ``model``'s grades get the configured behaviours: any are configured and
    ``behaviour_models`` is empty (every model) or names it."""
    if config.position_bias == 0 and config.waver_rate == 0.0:
        return False
    return not config.behaviour_models or model in config.behaviour_models


def misjudge(
    judgments: Sequence[Judgment], prompt: Prompt, config: SimConfig, rng: random.Random
) -> list[Judgment]:
    """The judgments of one prompt (in prompt order) after the position bias, then the
    wavering; each changed judgment's reasoning says what changed its grade."""
    result = list(judgments)
    if config.position_bias and result:
        first = result[0]
        favoured = min(prompt.scale_max, first.grade + config.position_bias)
        if favoured != first.grade:
            result[0] = _regraded(first, favoured, "first in the batch, favoured")
    if config.waver_rate:
        for i, judgment in enumerate(result):
            # One draw per candidate whether or not it wavers, so that which candidates
            # waver depends only on the seed and the order of candidates and calls.
            if rng.random() >= config.waver_rate:
                continue
            step = rng.choice((-1, 1))
            if not prompt.scale_min <= judgment.grade + step <= prompt.scale_max:
                step = -step
            result[i] = _regraded(judgment, judgment.grade + step, "wavered")
    return result


def _regraded(judgment: Judgment, grade: int, why: str) -> Judgment:
    return dataclasses.replace(
        judgment, grade=grade, reasoning=f"{judgment.reasoning} Then {why}: grade {grade}."
    )
