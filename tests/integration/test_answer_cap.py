"""Provider answers are read within RELEVAL_MAX_ANSWER_BYTES (16 MiB by default): a
provider answering hundreds of MB fails the batch of candidates it answered, with the cap
named, and is not asked again; a batch result file's line over the cap fails only the
candidates of its request. (The service's memory for a 600 MB answer is measured by
bench/answer_cap.py, not asserted here.)"""

from __future__ import annotations

from typing import Any

import pytest

from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.hostile import MB, Flood, Rewriter
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory, wait_until_idle

CAP = 16 * MB
TOO_LARGE = f"is larger than {CAP} bytes, the cap set by RELEVAL_MAX_ANSWER_BYTES; it was not read"


async def failures(service: Service, run_id: str) -> list[dict[str, Any]]:
    status, page = await service.request(
        "GET", f"/ai-judging-runs/{run_id}/failures", params={"limit": "100"}
    )
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize("announce", [False, True], ids=["chunked", "content-length"])
async def test_an_answer_of_hundreds_of_mb_fails_its_batch_naming_the_cap(
    service: Service, local_servers: LocalServers, announce: bool
) -> None:
    flood = await local_servers.start(Flood(300 * MB, announce=announce))
    judge = await create_judge(service, flood.base_url, batch_size=3, max_retries=3)
    status, result = await service.request(
        "POST",
        f"/ai-judges/{judge['id']}/test",
        json={"query": "q", "candidates": [{"text": "a"}, {"text": "b"}]},
    )
    assert status == 200, result
    assert (result["judged"], result["failed"]) == (0, 2)
    reason = f"provider rejected the batch: the provider's answer {TOO_LARGE}"
    assert result["calls"][0]["error"] == reason
    assert flood.requests == 1  # not retried

    evaluation = await create_evaluation(service, queries=2, per_query=3)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)
    assert (final["status"], final["judged"], final["failed"]) == ("completed", 0, 6), final
    assert {f["reason"] for f in await failures(service, run["id"])} == {reason}
    assert flood.requests == 1 + 2  # one call a batch, none retried
    # The service hung up long before the end of any answer.
    assert flood.sent < 3 * 100 * MB


async def test_a_batch_result_line_over_the_cap_fails_only_its_requests_candidates(
    services: ServiceFactory, local_servers: LocalServers
) -> None:
    sim_port = await local_servers.sim(SimConfig(latency_ms=0, seed=7, batch_completion_s=0.5))
    upstream = f"http://127.0.0.1:{sim_port}"
    proxy = await local_servers.start(Rewriter(upstream, pad_first_result=40 * MB))
    service = await services.start(batch_poll_s=0.1)
    judge = await create_judge(
        service,
        proxy.url,
        provider="anthropic",
        model="claude-x",
        delivery="batch",
        batch_size=3,
    )
    evaluation = await create_evaluation(service, queries=3, per_query=3)
    run = await start_run(service, evaluation["id"], judge["id"])
    final = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)
    assert (final["status"], final["judged"], final["failed"]) == ("completed", 6, 3), final
    failed = await failures(service, run["id"])
    assert len({f["query_id"] for f in failed}) == 1  # the three candidates of one request
    for item in failed:
        assert item["reason"].startswith("the provider errored this request: the provider's ")
        assert item["reason"].endswith(TOO_LARGE)
