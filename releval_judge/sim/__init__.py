"""A simulated LLM provider (OpenAI and Anthropic wire formats) for load tests, benchmarks
and ``make demo``: it grades candidates lexically, with configurable latency, rate limits
and faults, and needs no API key."""

from releval_judge.sim.config import SimConfig
from releval_judge.sim.server import build_app, run_sim, serve_forever
from releval_judge.sim.stats import StatsReport

__all__ = ["SimConfig", "StatsReport", "build_app", "run_sim", "serve_forever"]
