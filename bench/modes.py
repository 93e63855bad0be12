"""How big the benchmarks are: ``make bench`` (full) and ``make bench-quick`` (quick), and
the provider latency and batch size most scenarios share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BATCH = 10
LATENCY_MS = 200.0


@dataclass(frozen=True)
class Mode:
    name: str
    efficiency_candidates: Callable[[int], int]  # by concurrency
    efficiency_runs: int
    cpu_candidates: int
    cpu_runs: int
    big_candidates: int
    big_max_run_s: float
    cancel_candidates: int
    cancel_runs: int
    rate_limit_s: float
    rate_limit_candidates: int
    key_concurrency_s: float
    token_candidates: int
    cost_candidates: int
    roles_candidates: Callable[[int], int]  # by concurrency
    roles_poll_candidates: int
    reads_s: float  # how long the read clients of bench 8 read, each row
    reuse_candidates: int  # the reuse look-up's overhead (bench/reuse.py)


FULL = Mode(
    name="full",
    efficiency_candidates=lambda concurrency: 20_000,
    efficiency_runs=3,
    cpu_candidates=20_000,
    cpu_runs=3,
    big_candidates=1_000_000,
    big_max_run_s=1800.0,
    cancel_candidates=20_000,
    cancel_runs=5,
    rate_limit_s=150.0,
    rate_limit_candidates=60_000,
    key_concurrency_s=30.0,
    token_candidates=1_000,
    cost_candidates=10_000,
    roles_candidates=lambda concurrency: 20_000,
    roles_poll_candidates=100_000,
    reads_s=25.0,
    reuse_candidates=1_000_000,
)
QUICK = Mode(
    name="quick",
    # 25 calls per slot as in BENCHMARKS.md's reference, at most 8,000 candidates (at
    # concurrency 128 the service is CPU-bound on two cores anyway).
    efficiency_candidates=lambda concurrency: min(concurrency * BATCH * 25, 8_000),
    efficiency_runs=1,
    cpu_candidates=5_000,
    cpu_runs=1,
    big_candidates=50_000,
    big_max_run_s=60.0,
    cancel_candidates=10_000,
    cancel_runs=3,
    rate_limit_s=12.0,
    rate_limit_candidates=20_000,
    key_concurrency_s=8.0,
    token_candidates=300,
    cost_candidates=2_000,
    roles_candidates=lambda concurrency: min(concurrency * BATCH * 25, 8_000),
    roles_poll_candidates=40_000,
    reads_s=6.0,
    reuse_candidates=100_000,
)
