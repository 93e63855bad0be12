"""How long an accepted call takes: fixed, or lognormal with a long tail, plus jitter."""

from __future__ import annotations

import math
import random

from releval_judge.sim.config import SimConfig

# The standard normal's 99th percentile: a lognormal with median m and log-sd s has its
# 99th percentile at m * exp(_Z99 * s).
_Z99 = 2.3263478740408408


def draw_latency_s(config: SimConfig, rng: random.Random) -> float:
    """One call's delay in seconds, as :class:`SimConfig` documents."""
    ms = config.latency_ms
    p99 = config.latency_p99_ms
    if p99 is not None and p99 > ms > 0:
        ms = rng.lognormvariate(math.log(ms), math.log(p99 / ms) / _Z99)
    if config.latency_jitter_ms:
        ms += rng.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
    return max(0.0, ms) / 1000.0
