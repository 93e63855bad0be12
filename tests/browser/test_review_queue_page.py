"""The review queue in a real browser: one keystroke grades the focused candidate (through
the human-judgment route) and moves to the next; j/k move without grading."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.api import create_evaluation
from tests.support.service import TOKEN, ServiceFactory

pytestmark = pytest.mark.browser


async def test_one_keystroke_per_grade(services: ServiceFactory, browser: BrowserContext) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    page = browser.pages[0] if browser.pages else await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{service.base_url}/ui/runs/{evaluation['id']}/queue")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_label("Grading as").fill("alice")
    rows = page.locator("tr.queue-item")
    await expect(rows).to_have_count(6)
    first = await rows.nth(0).get_attribute("data-candidate")
    third = await rows.nth(2).get_attribute("data-candidate")

    await rows.nth(0).focus()
    await page.keyboard.press("3")  # grade the first, move to the second
    await expect(rows.nth(0).locator(".queue-grade")).to_have_text("3")
    await expect(rows.nth(1)).to_be_focused()
    await page.keyboard.press("j")  # skip the second
    await expect(rows.nth(2)).to_be_focused()
    await page.keyboard.press("0")
    await expect(rows.nth(2).locator(".queue-grade")).to_have_text("0")
    await page.keyboard.press("9")  # outside the 0–3 scale: nothing happens
    await expect(rows.nth(3).locator(".queue-grade")).to_have_text("")

    status, body = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=human&limit=100"
    )
    assert status == 200, body
    grades = {(i["candidate_id"], i["judge"], i["source"]): i["grade"] for i in body["items"]}
    assert grades == {(first, "alice", "human"): 3, (third, "alice", "human"): 0}, body
    assert errors == []
