"""The AI judges page in a real browser: create a judge from the form (the key stays
write-only), preview its template, test it on a sample of a run, edit it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from releval_judge.sim import SimConfig
from tests.support.browser import PHONE, log_in, watched_page
from tests.support.catalogue import evaluation_run
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory

pytestmark = pytest.mark.browser


@pytest.fixture
async def sim(local_servers: LocalServers) -> str:
    port = await local_servers.sim(SimConfig(latency_ms=50, api_key="sk-sim-key"))
    return f"http://127.0.0.1:{port}/v1"


async def test_create_preview_test_and_edit_a_judge(
    services: ServiceFactory, sim: str, browser: BrowserContext, artifacts: Path
) -> None:
    service = await services.start()
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json=evaluation_run("Judge test sample")
    )
    assert status == 201, evaluation
    page, errors = await watched_page(browser)

    await log_in(page, f"{service.base_url}/ui/judges")
    await page.get_by_role("link", name="New AI judge").click()

    await page.get_by_label("Name").fill("sim judge")
    await page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    await page.get_by_label("Base URL").fill(sim)
    await page.get_by_label("API key").fill("sk-sim-key")
    await page.get_by_label("Batch size").fill("4")
    await page.get_by_label("Concurrency").fill("2")
    # An unsaved template is previewed as the model would see it; errors say where.
    await page.get_by_label(re.compile("^Template")).fill("{{ query }}\n{{ candidates[0].nope.x }}")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-result [role=alert]")).to_contain_text("line 2")
    await page.get_by_role("button", name="Start from the default template").click()
    await expect(page.get_by_label(re.compile("^Template"))).to_have_value(
        re.compile(r"^You are an expert search-relevance assessor.*<candidate id=", re.DOTALL)
    )
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-result pre")).to_contain_text("Query: wireless headphones")
    await page.screenshot(path=str(artifacts / "ui-20-judge-form.png"), full_page=True)
    await page.get_by_role("button", name="Create AI judge").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("sim judge")
    judge_id = page.url.rsplit("/", 1)[1]
    status, judge = await service.request("GET", f"/ai-judges/{judge_id}")
    assert status == 200 and judge["api_key_set"] and judge["batch_size"] == 4, judge
    assert "sk-sim-key" not in await page.content()

    # Test it on a sample of the evaluation run before running it.
    await page.get_by_label("Evaluation run", exact=True).select_option(evaluation["id"])
    await page.get_by_label("Sample size").fill("6")
    await page.get_by_role("button", name="Test", exact=True).click()
    results = page.locator("#test-result table tbody tr")
    await expect(results).to_have_count(6)
    await expect(page.locator("#test-status")).to_contain_text("6 judged, 0 failed")
    await expect(page.locator("#test-result details.call").first).to_be_visible()
    await page.screenshot(path=str(artifacts / "ui-21-judge-tested.png"), full_page=True)

    # Edit: a new batch size; the key field stays empty and the stored key is kept.
    await page.get_by_label("Batch size").fill("2")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#judge-status")).to_have_text("Saved.")
    status, judge = await service.request("GET", f"/ai-judges/{judge_id}")
    assert judge["batch_size"] == 2 and judge["api_key_set"], judge
    # The API's validation message comes through.
    await page.get_by_label("Batch size").fill("500")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#judge-error")).to_contain_text("batch_size")
    await page.get_by_label("Batch size").fill("2")

    # The settings of the output and of the documents: set, then cleared.
    await page.get_by_label("Max output tokens").fill("800")
    await page.get_by_label("Request timeout").fill("20")
    await page.get_by_label("Max document characters").fill("1000")
    await page.get_by_label(re.compile("^Fields")).fill("brand, price ,")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#judge-status")).to_have_text("Saved.")
    status, judge = await service.request("GET", f"/ai-judges/{judge_id}")
    assert (judge["max_output_tokens"], judge["request_timeout_s"]) == (800, 20), judge
    assert (judge["max_document_chars"], judge["fields"]) == (1000, ["brand", "price"]), judge
    await page.reload()
    await expect(page.get_by_label(re.compile("^Fields"))).to_have_value("brand, price")
    await expect(page.get_by_label("Max output tokens")).to_have_value("800")
    await page.get_by_label(re.compile("^Fields")).fill("")
    await page.get_by_label("Max output tokens").fill("")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#judge-status")).to_have_text("Saved.")
    status, judge = await service.request("GET", f"/ai-judges/{judge_id}")
    assert judge["fields"] is None and judge["max_output_tokens"] is None, judge
    # The Delivery select shows its whole text.
    delivery = page.get_by_label("Delivery")
    assert await delivery.evaluate("s => s.scrollWidth <= s.clientWidth"), "cut off"

    await page.set_viewport_size(PHONE)
    await page.reload()
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(artifacts / "ui-22-phone-judge.png"), full_page=False)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0

    # Delete, after a confirmation that "Keep it" backs out of.
    await page.get_by_role("button", name="Delete…").click()
    await page.get_by_role("button", name="Keep it").click()
    await expect(page.get_by_role("button", name="Yes, delete it")).to_be_hidden()
    await page.get_by_role("button", name="Delete…").click()
    await page.get_by_role("button", name="Yes, delete it").click()
    await expect(page).to_have_url(re.compile(r"/ui/judges$"))
    await expect(page.get_by_role("link", name="sim judge")).to_have_count(0)
    status, _ = await service.request("GET", f"/ai-judges/{judge_id}")
    assert status == 404
    assert not errors, errors
