"""The review queue in a real browser: each candidate shows its document as the AI judge
saw it and the judge's reasoning; a grade is one keystroke or one click on a visible
button (through the human-judgment route), and the focus moves to the next candidate;
j/k move without grading."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.browser import log_in, watched_page
from tests.support.fakes import FakeProviders
from tests.support.service import Service, ServiceFactory

pytestmark = pytest.mark.browser

LONG = "Trail running shoes with a rock plate and a wide toe box. " * 20


def _text(q: int, r: int) -> str:
    return LONG if (q, r) == (1, 1) else f"document text {q}-{r}"


async def _log_in_to_queue(page: Page, service: Service, evaluation: dict[str, Any]) -> None:
    await log_in(page, f"{service.base_url}/ui/runs/{evaluation['id']}/queue")
    await page.get_by_label("Grading as").fill("alice")


async def _human_grades(service: Service, evaluation: dict[str, Any]) -> dict[str, int]:
    status, body = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/judgments?source=human&limit=100"
    )
    assert status == 200, body
    assert {i["judge"] for i in body["items"]} <= {"alice"}, body
    return {i["candidate_id"]: i["grade"] for i in body["items"]}


async def test_grading_from_the_queue_with_the_keyboard(
    services: ServiceFactory, browser: BrowserContext
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    page, errors = await watched_page(browser)

    await _log_in_to_queue(page, service, evaluation)
    rows = page.locator("tr.queue-item")
    await expect(rows).to_have_count(6)
    first = await rows.nth(0).get_attribute("data-candidate")
    third = await rows.nth(2).get_attribute("data-candidate")

    await rows.nth(0).focus()
    await page.keyboard.press("3")  # grade the first, move to the second
    await expect(rows.nth(0).locator(".queue-grade")).to_have_text("Graded 3")
    await expect(rows.nth(0).get_by_role("button", name="3")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(rows.nth(1)).to_be_focused()
    await page.keyboard.press("j")  # skip the second
    await expect(rows.nth(2)).to_be_focused()
    await page.keyboard.press("k")  # back, and forth again
    await expect(rows.nth(1)).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(rows.nth(2)).to_be_focused()
    await page.keyboard.press("0")
    await expect(rows.nth(2).locator(".queue-grade")).to_have_text("Graded 0")
    await page.keyboard.press("9")  # outside the 0–3 scale: nothing happens
    await expect(rows.nth(3).locator(".queue-grade")).to_have_text("")

    assert await _human_grades(service, evaluation) == {first: 3, third: 0}
    assert errors == []


async def test_grading_from_the_queue_with_the_mouse(
    services: ServiceFactory, browser: BrowserContext, fake_provider: FakeProviders
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3, texts=_text)
    provider = await fake_provider()  # grades every candidate 2, "because <id>"
    judge = await create_judge(service, provider.base_url, name="grader", max_document_chars=400)
    run = await start_run(service, evaluation["id"], judge["id"])
    assert (await wait_until_ended(service, run["id"]))["status"] == "completed"
    page, errors = await watched_page(browser)

    await _log_in_to_queue(page, service, evaluation)
    rows = page.locator("tr.queue-item")
    await expect(rows).to_have_count(6)
    long_row = rows.filter(has_text="d1-1")
    doc = long_row.locator("td.queue-doc")
    # The title and the doc id apart; the text as the judge saw it (cut at 400
    # characters), its start shown and the rest behind "more".
    await expect(doc.locator(".doc-title")).to_have_text("title 1-1")
    await expect(doc.locator(".doc-id")).to_have_text("d1-1")
    await expect(doc.locator("details.more p.clip-text")).to_be_hidden()
    await doc.locator("details.more summary").click()
    full = doc.locator("details.more p.clip-text")
    await expect(full).to_be_visible()
    shown = await full.inner_text()
    assert shown.startswith("Trail running shoes") and shown.endswith("[…]"), shown
    assert len(shown) <= 400 + len(" […]"), shown
    # The AI's grade and its reasoning.
    ai = long_row.locator("td.queue-ai")
    await expect(ai).to_contain_text("2")
    await expect(ai).to_contain_text("grader")
    await expect(ai.locator(".clip-text")).to_contain_text("because")
    # Rows stay compact: no cell stacks one reason per line.
    height = (await rows.nth(1).bounding_box() or {"height": 1e9})["height"]
    assert height < 170, height

    target = rows.nth(1)
    candidate = await target.get_attribute("data-candidate")
    await target.get_by_role("button", name="1", exact=True).click()
    await expect(target.locator(".queue-grade")).to_have_text("Graded 1")
    await expect(target.get_by_role("button", name="1", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(rows.nth(2)).to_be_focused()
    # A change of mind: another click replaces the grade.
    await target.get_by_role("button", name="3", exact=True).click()
    await expect(target.locator(".queue-grade")).to_have_text("Graded 3")
    await expect(target.get_by_role("button", name="1", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    assert await _human_grades(service, evaluation) == {candidate: 3}
    assert errors == []
