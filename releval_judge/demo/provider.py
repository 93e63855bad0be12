"""Which provider judges in the demo, and the judge it is given."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from releval_judge.client.progress import format_count
from releval_judge.demo.errors import DemoError
from releval_judge.demo.sample import SampleRun

ProviderChoice = Literal["auto", "sim", "openai", "anthropic"]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_VARIABLES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


@dataclass(frozen=True)
class ProviderPlan:
    kind: Literal["sim", "openai", "anthropic"]
    model: str

    @property
    def real(self) -> bool:
        return self.kind != "sim"


def choose_provider(
    choice: ProviderChoice, model: str | None, environ: Mapping[str, str]
) -> ProviderPlan:
    """Which provider judges: the one asked for, or in ``auto`` the first whose key is set."""
    kind: Literal["sim", "openai", "anthropic"]
    if choice == "auto":
        kind = "openai" if environ.get(KEY_VARIABLES["openai"]) else "sim"
        if kind == "sim" and environ.get(KEY_VARIABLES["anthropic"]):
            kind = "anthropic"
    else:
        kind = choice
    if kind == "sim":
        return ProviderPlan("sim", model or "releval-sim-1")
    if not environ.get(KEY_VARIABLES[kind]):
        raise DemoError(f"--provider {kind} needs {KEY_VARIABLES[kind]} in the environment")
    return ProviderPlan(kind, model or DEFAULT_MODELS[kind])


def judge_body(plan: ProviderPlan, *, batch: bool) -> dict[str, Any]:
    """The demo's judge for ``plan`` (through the provider's batch API with ``batch``); a
    simulator judge gets its base_url once the simulator listens."""
    common: dict[str, Any] = {"batch_size": 10, "concurrency": 4, "max_retries": 3}
    if batch:
        common["delivery"] = "batch"
    if plan.real:
        body: dict[str, Any] = {
            "name": f"demo judge ({plan.model})",
            "provider": plan.kind,
            "model": plan.model,
            # The service reads the key from its own environment; it is never stored.
            "api_key_env": KEY_VARIABLES[plan.kind],
            **common,
        }
        base_url = os.environ.get(BASE_URL_VARIABLES[plan.kind])
        if base_url:
            body["base_url"] = base_url
        return body
    return {
        "name": "demo judge (simulator)",
        "provider": "openai",
        "model": plan.model,
        "api_key": "sk-demo-simulator",
        **common,
    }


def token_estimate(sample: SampleRun) -> str:
    """About how many tokens a real provider is sent and answers for ``sample``."""
    # ~250 input tokens of instructions per batch + ~60 per candidate, in and out.
    batches = sample.candidate_count / 10
    return format_count(batches * 250 + sample.candidate_count * 120)
