"""Provider faults end to end: each ends as per-candidate failures or a run failure with a
message, and nothing is lost (counters equal rows, every candidate judged or failed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, FakeProviders, blocks, completion, document_ids
from tests.support.runs import check_invariants
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory


async def slow_body(prompt: str, call_no: int) -> web.Response:
    await asyncio.sleep(2)  # longer than the judge's 0.3 s request timeout
    return completion(blocks({cid: 1 for cid in document_ids(prompt)}))


async def non_json(prompt: str, call_no: int) -> web.Response:
    return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")


async def truncated_json(prompt: str, call_no: int) -> web.Response:
    return web.Response(
        text='{"choices": [{"message": {"content": "<candidate', content_type="application/json"
    )


async def error_object_in_200(prompt: str, call_no: int) -> web.Response:
    return web.json_response(
        {"error": {"message": "upstream model crashed", "type": "server_error"}}
    )


def connection_reset(
    request_holder: list[web.Request],
) -> Callable[[str, int], Awaitable[web.Response]]:
    async def reset(prompt: str, call_no: int) -> web.Response:
        request = request_holder[-1]
        assert request.transport is not None
        request.transport.abort()  # RST, no HTTP answer at all
        await asyncio.sleep(0.05)
        return web.Response(status=500)

    return reset


FAULTS = {
    "slow body (timeout)": (slow_body, "timed out after 0.3s"),
    "non-JSON body": (non_json, "malformed response body"),
    "truncated JSON body": (truncated_json, "malformed response body"),
    "200 with an error object": (error_object_in_200, "upstream model crashed"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_exhausts_retries_then_the_run_fails_as_an_outage(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders, fault: str
) -> None:
    respond, message = FAULTS[fault]
    provider = await fake_provider(respond)
    service = await services.start(outage_batches=2)
    evaluation = await create_evaluation(service, queries=4, per_query=2)
    judge = await create_judge(
        service,
        provider.base_url,
        batch_size=2,
        concurrency=1,
        max_retries=1,
        request_timeout_s=0.3,
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    _, failures = await service.request("GET", f"/ai-judging-runs/{run['id']}/failures")
    assert final["status"] == "failed"
    assert final["error"].startswith("provider outage: gave up after 2 attempts")
    assert message in final["error"]
    assert (final["judged"], final["failed"]) == (0, 4)  # two batches, recorded, not lost
    assert all(message in f["reason"] for f in failures["items"])
    await check_invariants(db, run["id"])


async def test_connection_reset_is_retried_and_the_run_recovers(
    services: ServiceFactory, db: asyncpg.Pool, local_servers: LocalServers
) -> None:
    provider = FakeProvider()
    requests: list[web.Request] = []
    reset = connection_reset(requests)

    async def reset_every_other(prompt: str, call_no: int) -> web.Response:
        if call_no % 2 == 1:
            return await reset(prompt, call_no)
        return completion(blocks({cid: 2 for cid in document_ids(prompt)}))

    original = provider._handle

    async def remember(request: web.Request) -> web.Response:
        requests.append(request)
        return await original(request)

    provider._handle = remember  # type: ignore[method-assign]
    provider.respond = reset_every_other
    await local_servers.start(provider)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=3, per_query=2)
    judge = await create_judge(
        service, provider.base_url, batch_size=2, concurrency=1, max_retries=2
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    assert final["status"] == "completed"
    assert (final["judged"], final["failed"]) == (6, 0)
    assert len(provider.calls) == 6  # each batch: a reset, then an answer
    await check_invariants(db, run["id"])
