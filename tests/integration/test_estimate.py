"""Cost before spending: the estimate renders what a run would send, calls nothing, and
the judging run then reports its actual cost the same way."""

from __future__ import annotations

import math
from typing import Any

import pytest

from releval_judge.engine import estimate
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProviders
from tests.support.service import Service, ServiceFactory

PRICES = {"input_price_per_mtok": 2.0, "output_price_per_mtok": 8.0}


async def _uneven_evaluation(service: Service) -> dict[str, Any]:
    """Three queries with 5, 5 and 2 candidates (varied text lengths)."""
    body = {
        "name": "uneven",
        "scale": {"min": 0, "max": 3},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query number {q}",
                "candidates": [
                    {"doc_id": f"d{q}-{r}", "rank": r, "text": "word " * (10 * q + r)}
                    for r in range(1, n + 1)
                ],
            }
            for q, n in [(1, 5), (2, 5), (3, 2)]
        ],
    }
    status, evaluation = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201, evaluation
    result: dict[str, Any] = evaluation
    return result


async def _estimate(service: Service, evaluation_id: str, **body: Any) -> tuple[int, Any]:
    return await service.request(
        "POST", f"/evaluations/runs/{evaluation_id}/ai-judge/estimate", json=body
    )


async def test_the_estimate_matches_what_the_run_then_sends_and_costs(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    provider = await fake_provider()  # 100 input and 20 output tokens per call
    service = await services.start()
    evaluation = await _uneven_evaluation(service)
    judge = await create_judge(service, provider.base_url, batch_size=2, **PRICES)
    status, before = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    assert status == 200, before
    assert provider.calls == []  # no provider call for an estimate
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    # Without reuse (with it, the run's own judgments answer every candidate now).
    status, after = await _estimate(
        service, evaluation["id"], ai_judge_id=judge["id"], reuse="none"
    )
    status, reused = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    assert (reused["reusable"], reused["batches"], reused["cost"]["total"]) == (12, 0, 0)

    assert (before["queries"], before["candidates"], before["batches"]) == (3, 12, 7)
    assert (before["scope"], before["batch_size"], before["extrapolated"]) == ("all", 2, False)
    assert len(provider.calls) == before["batches"]
    sent = sum(len(call.prompt) for call in provider.calls)
    assert before["estimated_input_tokens"] == math.ceil(sent / 4)
    assert before["input_token_method"].startswith("characters/4")
    assert (before["rendered_batches"], before["rendered_candidates"]) == (7, 12)
    # No earlier run: 60 output tokens per candidate.
    assert before["expected_output_tokens"] == 60 * 12
    assert before["cost"] == {
        "input": round(before["estimated_input_tokens"] * 2.0 / 1e6, 6),
        "cached_input": 0.0,
        "output": round(720 * 8.0 / 1e6, 6),
        "total": round((before["estimated_input_tokens"] * 2.0 + 720 * 8.0) / 1e6, 6),
    }
    # After one run the judge's own output rate is used: 7 calls × 20 tokens / 12.
    assert after["expected_output_tokens"] == 140
    assert "earlier runs" in after["output_token_method"]

    # The run reports its actual cost from the tokens the provider billed.
    assert (final["input_tokens"], final["output_tokens"]) == (700, 140)
    assert final["cost"] == {
        "input": 0.0014,
        "cached_input": 0,
        "output": 0.00112,
        "total": 0.00252,
    }


async def test_a_large_scope_is_sampled_and_extrapolated(
    services: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=30, per_query=4)
    judge = await create_judge(service, "http://127.0.0.1:9/v1", batch_size=3)
    status, exact = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    assert status == 200 and exact["extrapolated"] is False

    monkeypatch.setattr(estimate, "SAMPLE_CANDIDATES", 10)
    status, sampled = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    assert status == 200, sampled
    assert sampled["extrapolated"] is True
    assert (sampled["candidates"], sampled["batches"]) == (120, 60)  # still exact
    assert sampled["rendered_candidates"] == 12  # three queries of four
    assert "scaled to 60 batches" in sampled["input_token_method"]
    assert sampled["estimated_input_tokens"] == pytest.approx(
        exact["estimated_input_tokens"], rel=0.05
    )


async def test_no_prices_no_cost_and_the_run_says_so_too(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    judge = await create_judge(service, provider.base_url, input_price_per_mtok=1.0)
    status, body = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    final = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert status == 200
    assert (body["cost"], body["input_price_per_mtok"], body["output_price_per_mtok"]) == (
        None,
        1.0,
        None,
    )
    assert final["cost"] is None


async def test_bad_estimate_requests(service: Service) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    for body in [
        {},
        {"ai_judge_id": judge["id"], "scope": "some"},
        {"ai_judge_id": judge["id"], "extra": 1},
    ]:
        status, answer = await _estimate(service, evaluation["id"], **body)
        assert_error(status, answer, 422, "validation_error")
    status, answer = await _estimate(
        service, evaluation["id"], ai_judge_id="00000000-0000-0000-0000-000000000000"
    )
    assert_error(status, answer, 404, "not_found")
    status, answer = await _estimate(
        service, "00000000-0000-0000-0000-000000000000", ai_judge_id=judge["id"]
    )
    assert_error(status, answer, 404, "not_found")


async def test_prices_and_document_rules_are_validated_and_can_be_cleared(
    service: Service,
) -> None:
    base = {"name": "j", "provider": "openai", "model": "m"}
    cases: list[dict[str, Any]] = [
        {"input_price_per_mtok": -1},
        {"output_price_per_mtok": "cheap"},
        {"max_document_chars": 0},
        {"fields": "brand"},
        {"fields": [""]},
        {"fields": [1]},
    ]
    for extra in cases:
        status, body = await service.request("POST", "/ai-judges", json={**base, **extra})
        assert_error(status, body, 422, "validation_error")
    status, judge = await service.request(
        "POST",
        "/ai-judges",
        json={**base, **PRICES, "max_document_chars": 2000, "fields": ["brand", "colour"]},
    )
    assert status == 201, judge
    assert (judge["max_document_chars"], judge["fields"]) == (2000, ["brand", "colour"])
    assert (judge["input_price_per_mtok"], judge["output_price_per_mtok"]) == (2.0, 8.0)
    status, patched = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"fields": None, "input_price_per_mtok": 0.5}
    )
    assert status == 200, patched
    assert (patched["fields"], patched["input_price_per_mtok"]) == (None, 0.5)
    assert patched["max_document_chars"] == 2000


async def test_the_estimate_shows_live_batch_and_cached_costs_side_by_side(
    services: ServiceFactory,
) -> None:
    from releval_judge.prompt import DEFAULT_TEMPLATE

    guidelines = "Fixed relevance guidelines, the same in every prompt. " * 100  # ~1,400 tokens
    service = await services.start()
    evaluation = await create_evaluation(service, queries=4, per_query=6)
    judge = await create_judge(
        service,
        "http://127.0.0.1:9/v1",
        prompt_template=guidelines + DEFAULT_TEMPLATE,
        input_price_per_mtok=2.0,
        cached_input_price_per_mtok=0.5,
        output_price_per_mtok=8.0,
    )
    status, body = await _estimate(service, evaluation["id"], ai_judge_id=judge["id"])
    assert status == 200, body

    prefix = body["cacheable_prefix_tokens"]
    assert prefix >= 1024
    # Every call but the first reads the guidelines from the provider's cache.
    assert body["estimated_cached_input_tokens"] == prefix * (body["batches"] - 1)
    costs = body["costs"]
    assert set(costs) == {"live", "live_cached", "batch", "batch_cached"}
    assert costs["live"] == body["cost"]
    assert costs["batch"]["total"] == pytest.approx(costs["live"]["total"] * 0.5, abs=1e-6)
    assert costs["batch_cached"]["total"] == pytest.approx(
        costs["live_cached"]["total"] * 0.5, abs=1e-6
    )
    saved = body["estimated_cached_input_tokens"] * (2.0 - 0.5) / 1e6
    assert costs["live"]["total"] - costs["live_cached"]["total"] == pytest.approx(saved, abs=1e-6)
