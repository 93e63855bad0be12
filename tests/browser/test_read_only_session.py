"""A read-only token in a real browser: it sees everything, but cannot grade (no grade
control on the review page; the queue's digit keys only move), and live progress never
brings back a Cancel button it may not use."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.api import create_evaluation, create_judge, start_run
from tests.support.browser import log_in, watched_page
from tests.support.service import ServiceFactory
from tests.support.tokens import create_token

pytestmark = pytest.mark.browser


async def test_a_read_only_session_cannot_grade_or_cancel(
    services: ServiceFactory, browser: BrowserContext
) -> None:
    service = await services.start(role="api")  # never judges: the run stays queued
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    run = await start_run(service, evaluation["id"], judge["id"])
    token = (await create_token(service, ["read"], name="auditor"))["token"]
    page, errors = await watched_page(browser)

    await log_in(
        page, f"{service.base_url}/ui/runs/{evaluation['id']}/queue", token, judge_name="alice"
    )
    await expect(page.locator("#whoami")).to_have_text("Token auditor read")
    await expect(page.locator("#grading-refused")).to_contain_text("grading needs the write scope")
    rows = page.locator("tr.queue-item")
    await expect(rows).to_have_count(6)
    await rows.nth(0).focus()
    await page.keyboard.press("3")  # a grade for a write token; nothing here
    await expect(rows.nth(0)).to_be_focused()
    await page.keyboard.press("j")  # moving still works
    await expect(rows.nth(1)).to_be_focused()

    await page.goto(f"{service.base_url}/ui/runs/{evaluation['id']}/review")
    await expect(page.locator("#grading-refused")).to_be_visible()
    await expect(page.get_by_role("button", name="Save")).to_have_count(0)

    await page.goto(f"{service.base_url}/ui/runs/{evaluation['id']}")
    card = page.locator(f'[data-judging-run="{run["id"]}"]')
    # The run's event stream has been rendered into the card (its status announced)...
    await expect(card.locator('[data-field="announce"]')).to_contain_text("queued")
    # ...and the card still offers no Cancel; Run AI Judge is disabled with the reason.
    await expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    await expect(page.get_by_role("button", name="Run AI Judge")).to_be_disabled()
    await expect(page.locator("#run-ai-judge-reason")).to_contain_text("needs the write scope")

    status, body = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments", params={"source": "human"}
    )
    assert status == 200 and body["items"] == [], body
    status, after = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert after["status"] == "queued"
    assert errors == []
