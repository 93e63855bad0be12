"""POST /ai-judges/{id}/test: grade a few candidates before a full run; nothing written."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.support.api import assert_error, create_evaluation, create_judge
from tests.support.fakes import FakeProviders, blocks, completion, document_ids, error
from tests.support.reviewing import candidate_ids, put_human, query_of
from tests.support.service import Service, ServiceFactory

TABLES = ["ai_judgments", "ai_run_judgments", "ai_judging_runs", "candidate_failures"]


async def _counts(db: asyncpg.Pool) -> dict[str, int]:
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def _test(service: Service, judge_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await service.request("POST", f"/ai-judges/{judge_id}/test", json=body)


async def only_the_first(prompt: str, call_no: int) -> web.Response:
    return completion(blocks({"1": 3}, "best match"), prompt_tokens=50, completion_tokens=10)


async def test_inline_candidates_come_back_graded_with_prompt_and_answer(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(only_the_first)
    service = await services.start()
    judge = await create_judge(
        service,
        provider.base_url,
        batch_size=2,
        input_price_per_mtok=1.0,
        output_price_per_mtok=4.0,
    )
    before = await _counts(db)
    status, result = await _test(
        service,
        judge["id"],
        {
            "query": "wireless headphones",
            "candidates": [
                {"title": "Acme headphones", "text": "Over-ear, Bluetooth.", "doc_id": "a"},
                {"text": "A USB cable."},
                {"text": "Earbuds", "doc_id": "c", "rank": 7},
            ],
        },
    )
    assert status == 200, result
    assert await _counts(db) == before  # writes nothing
    assert (result["ai_judge_id"], result["model"]) == (judge["id"], "test-model")
    assert (result["judged"], result["failed"]) == (2, 1)
    assert result["scale"] == {"min": 0, "max": 3, "labels": {}}
    # Batches of 2: two calls, each with its prompt, the raw answer and its tokens.
    calls = result["calls"]
    assert [c["candidates"] for c in calls] == [2, 1]
    assert [c["prompt"] for c in calls] == [call.prompt for call in provider.calls]
    assert "Query: wireless headphones" in calls[0]["prompt"]
    assert "Title: Acme headphones" in calls[0]["prompt"]
    assert calls[0]["raw_answer"].startswith('<candidate id="1">')
    assert (result["input_tokens"], result["output_tokens"]) == (100, 20)
    assert result["cost"] == {
        "input": 0.0001,
        "cached_input": 0,
        "output": 0.00008,
        "total": 0.00018,
    }
    items = result["results"]
    assert [(i["doc_id"], i["rank"], i["grade"], i["call"]) for i in items] == [
        ("a", 1, 3, 0),
        (None, 2, None, 0),
        ("c", 7, 3, 1),
    ]
    assert items[0]["reasoning"] == "best match 1"
    assert items[1]["failure"].startswith("candidate missing from the answer")
    assert result["agreement"] is None and result["human_judge"] is None


async def test_a_sample_of_a_run_with_human_judgments_reports_agreement(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    async def grade_two(prompt: str, call_no: int) -> web.Response:
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    provider = await fake_provider(grade_two)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=4, per_query=5)
    ids = await candidate_ids(db, evaluation["id"])
    graded = sorted(ids)[:8]
    for n, doc in enumerate(graded):
        assert (await put_human(service, evaluation["id"], ids[doc], "alice", n % 4))[0] == 200
    judge = await create_judge(service, provider.base_url, batch_size=3)
    before = await _counts(db)
    body = {"evaluation_run_id": evaluation["id"], "sample_size": 6, "seed": 42}
    status, result = await _test(service, judge["id"], body)
    status_again, again = await _test(service, judge["id"], body)
    assert status == 200 and status_again == 200, result
    assert await _counts(db) == before
    assert (result["evaluation_run_id"], result["seed"], result["human_judge"]) == (
        evaluation["id"],
        42,
        "alice",
    )
    items = result["results"]
    assert len(items) == 6
    # Drawn only from the candidates alice graded, with her grade alongside.
    assert {i["doc_id"] for i in items} <= set(graded)
    by_doc = {doc: n % 4 for n, doc in enumerate(graded)}
    assert all(i["human_grade"] == by_doc[i["doc_id"]] for i in items)
    assert all(i["candidate_id"] == ids[i["doc_id"]] for i in items)
    # The same seed draws the same sample.
    assert [i["candidate_id"] for i in again["results"]] == [i["candidate_id"] for i in items]
    # A batch never mixes queries.
    for call in result["calls"]:
        assert query_of(call["prompt"]) == call["query"]
    agreement = result["agreement"]
    assert agreement["pairs"] == 6
    exact = sum(i["human_grade"] == 2 for i in items) / 6
    assert agreement["exact_agreement"] == pytest.approx(exact)
    assert sum(map(sum, agreement["confusion_matrix"]["counts"])) == 6


async def test_a_run_without_human_judgments_is_sampled_whole(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=2)
    judge = await create_judge(service, provider.base_url)
    status, result = await _test(
        service, judge["id"], {"evaluation_run_id": evaluation["id"], "sample_size": 50}
    )
    assert status == 200, result
    assert len(result["results"]) == 4  # fewer candidates than asked for: all of them
    assert isinstance(result["seed"], int)
    assert (result["human_judge"], result["agreement"]) == (None, None)
    assert {i["grade"] for i in result["results"]} == {2}


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "Incorrect API key provided"), (404, "The model `test-model` does not exist")],
)
async def test_a_provider_that_refuses_the_judge_is_a_502(
    services: ServiceFactory, status: int, message: str, fake_provider: FakeProviders
) -> None:
    async def refuse(prompt: str, call_no: int) -> web.Response:
        return error(status, message)

    provider = await fake_provider(refuse)
    service = await services.start()
    judge = await create_judge(service, provider.base_url)
    code, body = await _test(
        service, judge["id"], {"query": "q", "candidates": [{"text": "t"}] * 4}
    )
    error_body = assert_error(code, body, 502, "provider_error")
    assert message in error_body["message"]
    assert error_body["details"] == {"provider_status": status}


async def test_a_batch_the_provider_rejects_is_a_per_candidate_failure(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    async def too_long(prompt: str, call_no: int) -> web.Response:
        return error(400, "maximum context length exceeded")

    provider = await fake_provider(too_long)
    service = await services.start()
    judge = await create_judge(service, provider.base_url)
    status, result = await _test(
        service, judge["id"], {"query": "q", "candidates": [{"text": "t"}]}
    )
    assert status == 200, result
    assert result["failed"] == 1
    assert "maximum context length exceeded" in result["results"][0]["failure"]
    assert result["calls"][0]["error"] == result["results"][0]["failure"]


async def test_a_key_the_service_cannot_read_is_a_502(service: Service) -> None:
    judge = await create_judge(
        service, "http://127.0.0.1:9/v1", api_key=None, api_key_env="TEST_NO_SUCH_API_KEY"
    )
    status, body = await _test(service, judge["id"], {"query": "q", "candidates": [{"text": "t"}]})
    error_body = assert_error(status, body, 502, "provider_error")
    assert "TEST_NO_SUCH_API_KEY" in error_body["message"]


async def test_the_judges_document_rules_shape_the_prompt(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    service = await services.start()
    judge = await create_judge(service, provider.base_url, max_document_chars=20, fields=["brand"])
    status, result = await _test(
        service,
        judge["id"],
        {
            "query": "q",
            "candidates": [
                {
                    "text": "A very long description of the product that goes on",
                    "fields": {"brand": "Acme", "sku": "X-1", "vector": [0.25] * 100},
                }
            ],
        },
    )
    assert status == 200, result
    prompt = result["calls"][0]["prompt"]
    assert "A very long […]\n" in prompt
    assert "brand: Acme" in prompt
    assert "X-1" not in prompt and "0.25" not in prompt


async def test_bad_requests_are_refused(service: Service, db: asyncpg.Pool) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    inline = {"query": "q", "candidates": [{"text": "t"}]}
    cases: list[dict[str, Any]] = [
        {},
        {"query": "q"},
        {"candidates": [{"text": "t"}]},
        {"query": "q", "candidates": []},
        {"query": "q", "candidates": [{"title": "no text"}]},
        {"query": "q", "candidates": [{"text": "t"}] * 101},
        {**inline, "evaluation_run_id": evaluation["id"]},
        {**inline, "sample_size": 3},
        {"evaluation_run_id": evaluation["id"], "sample_size": 0},
        {"evaluation_run_id": evaluation["id"], "sample_size": 101},
        {"evaluation_run_id": evaluation["id"], "scale": {"min": 0, "max": 1}},
        {"evaluation_run_id": evaluation["id"], "human_judge": "nobody"},
        {**inline, "scale": {"min": 3, "max": 1}},
    ]
    for body in cases:
        status, answer = await _test(service, judge["id"], body)
        assert_error(status, answer, 422, "validation_error")
    status, answer = await _test(service, "00000000-0000-0000-0000-000000000000", inline)
    assert_error(status, answer, 404, "not_found")
    status, answer = await _test(
        service, judge["id"], {"evaluation_run_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert_error(status, answer, 404, "not_found")
