"""What the UI's pages show, read as HTML (the browser tests drive them; these are the
cases a browser run would make slow or awkward to set up)."""

from __future__ import annotations

import html
import uuid

import aiohttp
import asyncpg

from releval_judge.ui.session import COOKIE
from tests.support.api import create_evaluation, create_judge
from tests.support.service import TOKEN, Service
from tests.support.ui import text


async def test_run_ai_judge_is_disabled_with_the_reason(
    service: Service, page: aiohttp.ClientSession
) -> None:
    running = await create_evaluation(service, status="running")
    body = await text(page, f"/ui/runs/{running['id']}")
    assert "disabled" in body.split('id="run-ai-judge"')[1].split(">")[0]
    assert "This evaluation run is running. AI judging needs a completed run" in body
    assert f"PATCH /api/v1/evaluations/runs/{running['id']}" in body  # how to complete it

    locked = await create_evaluation(service)
    await service.request("PATCH", f"/evaluations/runs/{locked['id']}", json={"locked": True})
    body = await text(page, f"/ui/runs/{locked['id']}")
    assert "a locked run rejects every judgment change" in body

    open_run = await create_evaluation(service)
    await create_judge(service, "http://127.0.0.1:9/v1", name="listed judge")
    body = await text(page, f"/ui/runs/{open_run['id']}")
    assert "disabled" not in body.split('id="run-ai-judge"')[1].split(">")[0]
    assert "listed judge (test-model)" in body


async def test_unknown_ids_are_a_404_page_with_the_apis_message(
    page: aiohttp.ClientSession,
) -> None:
    body = await text(page, "/ui/runs/not-a-uuid", status=404)
    assert "evaluation run 'not-a-uuid' not found" in body
    await text(page, "/ui/judging-runs/00000000-0000-0000-0000-000000000000", status=404)
    await text(page, "/ui/judges/00000000-0000-0000-0000-000000000000", status=404)


async def test_review_filters_that_do_not_parse_are_explained(
    service: Service, page: aiohttp.ClientSession
) -> None:
    evaluation = await create_evaluation(service)
    body = await text(page, f"/ui/runs/{evaluation['id']}/review?grade=high")
    assert "grade: Input should be a valid integer" in body
    body = await text(page, f"/ui/runs/{evaluation['id']}/review?sort=relevance")
    assert "cannot sort by 'relevance'" in body
    body = await text(page, f"/ui/runs/{evaluation['id']}/review?query_id=&source=")
    assert "No judgment matches." in body


async def test_review_shows_human_judgments_beside_the_row(
    service: Service, page: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    candidate_id = str(
        await db.fetchval(
            "SELECT id FROM candidates WHERE evaluation_run_id = $1 ORDER BY rank LIMIT 1",
            uuid.UUID(evaluation["id"]),
        )
    )
    for judge, grade in (("bob", 1), ("carol", 3)):
        status, body = await service.request(
            "PUT",
            f"/evaluations/runs/{evaluation['id']}/candidates/{candidate_id}/judgments/{judge}",
            json={"grade": grade, "reasoning": f"{judge}'s <b>view</b>"},
        )
        assert status == 200, body
    body = await text(page, f"/ui/runs/{evaluation['id']}/review?source=human&sort=-grade,rank")
    rows = body.split('<tr data-candidate="')[1:]
    assert len(rows) == 2
    assert "carol" in rows[0].split('class="others"')[0]  # judge of record, highest first
    assert "Human</span> bob" in rows[0].split('class="others"')[1]
    assert "carol's <b>view</b>" in body  # shown as text (escaped in the HTML)


async def test_the_judge_page_never_shows_the_api_key(
    service: Service, page: aiohttp.ClientSession
) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1", api_key="sk-very-secret-key")
    body = await text(page, f"/ui/judges/{judge['id']}")
    assert "sk-very-secret-key" not in body
    assert "A key is set." in body
    assert TOKEN not in body and COOKIE not in body


async def test_the_reviewer_name_from_its_cookie_is_shown_decoded(
    service: Service, page: aiohttp.ClientSession
) -> None:
    evaluation = await create_evaluation(service)
    cookie = page.headers["Cookie"] + "; releval_reviewer=Zo%C3%AB%20N"
    async with page.get(
        f"/ui/runs/{evaluation['id']}/review", headers={"Cookie": cookie}
    ) as response:
        body = html.unescape(await response.text())
    assert 'id="reviewer-name" value="Zoë N"' in body


async def test_the_judge_form_and_the_run_page_show_delivery_prices_and_batches(
    service: Service, page: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    body = await text(page, "/ui/judges/new")
    for name in ("delivery", "reasoning_effort", "cached_input_price_per_mtok"):
        assert f'name="{name}"' in body, name
    assert 'name="temperature"' in body and 'data-nullable="true"' in body

    judge = await create_judge(
        service,
        "http://127.0.0.1:9/v1",
        delivery="batch",
        reasoning_effort="high",
        input_price_per_mtok=1.0,
        output_price_per_mtok=2.0,
    )
    body = await text(page, f"/ui/judges/{judge['id']}")
    assert '<option value="batch" selected>' in body
    assert '<option value="high" selected>' in body

    evaluation = await create_evaluation(service)
    body = await text(page, f"/ui/runs/{evaluation['id']}")
    assert 'id="max-cost"' in body

    # A batch run's provider batch and cost limit, as the run page shows them.
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge",
        json={"ai_judge_id": judge["id"], "max_cost": 3},
    )
    assert status == 201, run
    await db.execute(
        "INSERT INTO provider_batches (judging_run_id, seq_no, provider, state, submission_key,"
        " provider_batch_id, provider_status, request_counts, requests) VALUES"
        " ($1::uuid, 99, 'openai', 'submitted', 'k', 'batch_abc', 'in_progress',"
        ' \'{"total": 2, "completed": 1, "failed": 0}\', 2)',
        run["id"],
    )
    body = await text(page, f"/ui/judging-runs/{run['id']}")
    assert "provider batch in_progress: 1 of 2 requests done" in body
    assert "Cost limit" in body and ">3.0<" in body.replace(" ", "")
