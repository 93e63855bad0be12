"""Prompt caching end to end: a judge whose template starts with long fixed guidelines
gets them served from the provider's cache (the simulator keeps OpenAI's automatic prefix
caching and Anthropic's `cache_control` blocks), and the run shows and prices the cached
input tokens."""

from __future__ import annotations

from typing import Any

import pytest

from releval_judge.prompt import DEFAULT_TEMPLATE
from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.servers import LocalServers
from tests.support.service import Service

# About 1,500 tokens of fixed text before the template's first variable.
GUIDELINES = (
    "Relevance guidelines for the assessors of this collection.\n"
    + (
        "A document is relevant when it answers the query's information need; grade by how "
        "completely and directly it does so, never by its length or its style.\n"
    )
    * 40
)


@pytest.fixture
async def sim_port(local_servers: LocalServers) -> int:
    return await local_servers.sim(SimConfig(latency_ms=0, seed=1))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_stable_prefix_is_cached_and_the_cached_tokens_are_priced(
    service: Service, sim_port: int, provider: str
) -> None:
    assert len(GUIDELINES) > 4 * 1024
    base = f"http://127.0.0.1:{sim_port}" + ("/v1" if provider == "openai" else "")
    judge = await create_judge(
        service,
        base,
        provider=provider,
        model="gpt-4.1-mini" if provider == "openai" else "claude-x",
        prompt_template=GUIDELINES + DEFAULT_TEMPLATE,
        concurrency=1,
        input_price_per_mtok=2.0,
        cached_input_price_per_mtok=0.2,
        output_price_per_mtok=8.0,
    )
    created = await create_evaluation(service, queries=4, per_query=3)
    run = await start_run(service, created["id"], judge["id"])
    end: dict[str, Any] = await wait_until_ended(service, run["id"])

    assert (end["status"], end["judged"]) == ("completed", 12)
    # The first call writes the cache; the three after it read the guidelines from it.
    cached = end["cached_input_tokens"]
    assert cached >= 3 * 1024, end
    assert cached < end["input_tokens"]
    cost = end["cost"]
    assert cost["cached_input"] == pytest.approx(cached * 0.2 / 1e6, abs=1e-6)
    assert cost["input"] == pytest.approx((end["input_tokens"] - cached) * 2.0 / 1e6, abs=1e-6)


async def test_a_short_prefix_is_sent_as_plain_text_to_anthropic(
    service: Service, sim_port: int
) -> None:
    judge = await create_judge(
        service, f"http://127.0.0.1:{sim_port}", provider="anthropic", model="claude-x"
    )
    created = await create_evaluation(service, queries=2, per_query=3)
    run = await start_run(service, created["id"], judge["id"])
    end = await wait_until_ended(service, run["id"])

    assert (end["status"], end["judged"], end["cached_input_tokens"]) == ("completed", 6, 0)
