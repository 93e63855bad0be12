"""A simulated LLM provider (OpenAI, Azure OpenAI and Anthropic wire formats, their batch
APIs included) for load tests, benchmarks and ``make demo``: it grades candidates
lexically, with configurable latency, rate limits, faults, reasoning-model rules, prompt
caching and untrustworthy judges (position bias, wavering), and needs no API key.
docs/simulator.md describes every route and setting."""

from releval_judge.sim.config import SimConfig
from releval_judge.sim.server import build_app, run_sim, serve_forever
from releval_judge.sim.stats import StatsReport

__all__ = ["SimConfig", "StatsReport", "build_app", "run_sim", "serve_forever"]
