"""A run stopped by its max_cost: its error quotes the cost the run shows, and the scope it
advises judges what the run did not reach, whether or not earlier runs judged the
evaluation run (issue #24). Real service, real PostgreSQL, a fake provider over HTTP."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import web

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.service import Service, wait_until_idle

# A prompt of ~3,200 characters: the bound reserved before a call (characters / 3 at 10 per
# million, plus 50 output tokens at 40) is about 0.013, what a call bills (100 input and 20
# output tokens) 0.0018. A max_cost of 0.02 lets one call start and stops the second.
TEMPLATE = (
    "Grade each document for the query {{ query }}.\n"
    '{% for c in candidates %}<document id="{{ c.id }}">{{ c.title }}</document>\n'
    "{% endfor %}" + "Read carefully. " * 200
)
MAX_COST = 0.02
QUERIES, PER_QUERY = 4, 3


async def slow_first_answer(prompt: str, call_no: int) -> web.Response:
    # The first call is still in flight when the second finds no room under the limit: the
    # cost it bills comes after the run was stopped (what the error used to miss).
    if call_no == 1:
        await asyncio.sleep(0.3)
    return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))


async def start(service: Service, evaluation_id: str, judge_id: str, **body: Any) -> Any:
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation_id}/ai-judge",
        json={"ai_judge_id": judge_id, **body},
    )
    assert status == 201, run
    return run


async def current_judgments(service: Service, evaluation_id: str) -> list[dict[str, Any]]:
    status, page = await service.request(
        "GET", f"/evaluations/runs/{evaluation_id}/judgments?source=ai&limit=1000"
    )
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize("judged_before", [False, True], ids=["fresh", "judged-before"])
async def test_the_cost_limit_error_quotes_the_runs_cost_and_its_advice_judges_the_rest(
    service: Service, fake_provider: FakeProviders, judged_before: bool
) -> None:
    provider = await fake_provider(slow_first_answer)
    judge = await create_judge(
        service,
        provider.base_url,
        prompt_template=TEMPLATE,
        input_price_per_mtok=10.0,
        output_price_per_mtok=40.0,
        max_output_tokens=50,
        concurrency=4,
    )
    evaluation = await create_evaluation(service, queries=QUERIES, per_query=PER_QUERY)
    total = QUERIES * PER_QUERY
    if judged_before:
        # By another judge (another model): its judgments are not this judge's to reuse.
        other = await create_judge(service, provider.base_url, model="earlier-model")
        earlier = await wait_until_ended(
            service, (await start_run(service, evaluation["id"], other["id"]))["id"]
        )
        assert earlier["judged"] == total

    limited = await start(service, evaluation["id"], judge["id"], max_cost=MAX_COST)
    ended = await wait_until_ended(service, limited["id"])
    await wait_until_idle(service)

    assert ended["status"] == "failed"
    assert 0 < ended["judged"] < total
    error = ended["error"]
    assert error.startswith("cost limit reached"), error
    assert f"the run has cost {ended['cost']['total']:g} of its max_cost 0.02" in error, (
        error,
        ended["cost"],
    )
    advised = re.search(r"start a run with scope '(\w+)'", error)
    assert advised is not None, error
    assert advised.group(1) == ("all" if judged_before else "unjudged"), error

    # Following the advice judges every candidate the limited run did not reach.
    rest = await start(service, evaluation["id"], judge["id"], scope=advised.group(1))
    finished = await wait_until_ended(service, rest["id"])
    assert finished["status"] == "completed", finished
    if advised.group(1) == "all":  # what the limited run judged is reused, not paid again
        assert finished["reused"] == ended["judged"], finished
    judgments = await current_judgments(service, evaluation["id"])
    assert len(judgments) == total
    by_run = {j["ai_judging_run_id"] for j in judgments}
    assert by_run <= {limited["id"], rest["id"]}, "a candidate kept an earlier run's grade"
    assert rest["id"] in by_run
