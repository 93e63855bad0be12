"""Run failures (authentication, missing model, outage) and the 429 wait, over real HTTP."""

from __future__ import annotations

from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids, error
from tests.support.service import ServiceFactory


async def test_authentication_failure_fails_the_run_at_once(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    async def unauthorized(prompt: str, call_no: int) -> web.Response:
        return error(401, "Incorrect API key provided: sk-tes***-key.")

    provider = await fake_provider(unauthorized)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=4, per_query=5)
    judge = await create_judge(service, provider.base_url, concurrency=1, batch_size=5)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "failed"
    assert final["error"].startswith("authentication failed (HTTP 401): Incorrect API key")
    assert "sk-test-key" not in final["error"]
    assert len(provider.calls) == 1  # not retried, no further batch dispatched
    assert final["partially_judged"] is True
    assert final["judged"] == 0


async def test_missing_model_fails_the_run_with_the_providers_message(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    async def not_found(prompt: str, call_no: int) -> web.Response:
        return error(404, "The model `gpt-9` does not exist")

    provider = await fake_provider(not_found)
    service = await services.start()
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, provider.base_url, concurrency=1, model="gpt-9")
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "failed"
    assert "The model `gpt-9` does not exist" in final["error"]
    assert len(provider.calls) == 1


async def test_repeated_outage_fails_the_run_after_consecutive_batches(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    async def unavailable(prompt: str, call_no: int) -> web.Response:
        return error(503, "upstream overloaded")

    provider = await fake_provider(unavailable)
    service = await services.start(outage_batches=2)
    evaluation = await create_evaluation(service, queries=6, per_query=3)
    judge = await create_judge(
        service, provider.base_url, concurrency=1, batch_size=3, max_retries=1
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "failed"
    assert final["error"].startswith("provider outage: gave up after 2 attempts")
    assert "503" in final["error"]
    # Two batches, each tried once and retried once; their candidates are counted failed.
    assert len(provider.calls) == 4
    assert final["failed"] == 6
    assert final["judged"] == 0
    assert final["partially_judged"] is True


async def test_outage_that_recovers_does_not_fail_the_run(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    async def flaky(prompt: str, call_no: int) -> web.Response:
        if call_no % 2 == 1:
            return error(502, "bad gateway")
        return completion(blocks({cid: 1 for cid in document_ids(prompt)}))

    provider = await fake_provider(flaky)
    service = await services.start(outage_batches=1)
    evaluation = await create_evaluation(service, queries=3, per_query=2)
    judge = await create_judge(
        service, provider.base_url, concurrency=1, batch_size=2, max_retries=2
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "completed"
    assert final["judged"] == 6
    assert len(provider.calls) == 6


async def test_rate_limited_call_waits_for_retry_after_and_does_not_use_up_retries(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    async def limited(prompt: str, call_no: int) -> web.Response:
        if call_no <= 3:
            return error(429, "Rate limit reached", headers={"Retry-After": "1"})
        return completion(blocks({cid: 3 for cid in document_ids(prompt)}))

    provider = await fake_provider(limited)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    # max_retries=0: any retry counted against it would fail the batch.
    judge = await create_judge(
        service, provider.base_url, concurrency=1, batch_size=2, max_retries=0
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "completed"
    assert final["judged"] == 2
    assert len(provider.calls) == 4
    gaps = [b.at - a.at for a, b in zip(provider.calls, provider.calls[1:], strict=False)]
    # Retry-After: 1 — never retried sooner (a correctness bound, not a speed target).
    assert all(gap >= 0.95 for gap in gaps), gaps


async def test_bad_request_fails_only_that_batch(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    async def picky(prompt: str, call_no: int) -> web.Response:
        if "query number 1" in prompt:
            return error(400, "prompt is too long: 300000 tokens > 200000 maximum")
        return completion(blocks({cid: 0 for cid in document_ids(prompt)}))

    provider = await fake_provider(picky)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    judge = await create_judge(service, provider.base_url, batch_size=3)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    _, page = await service.request("GET", f"/ai-judging-runs/{run['id']}/failures")
    assert final["status"] == "completed"
    assert (final["judged"], final["failed"]) == (3, 3)
    assert len(provider.calls) == 2  # a 400 is not retried
    assert all("prompt is too long" in f["reason"] for f in page["items"])
