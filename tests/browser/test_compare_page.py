"""Choosing runs to compare on the evaluation runs list, in a real browser: check runs,
Compare, and read a comparison that names the runs (never their ids alone); runs without
a shared query are said to be so instead of a table of zeros."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.api import evaluation_body
from tests.support.browser import log_in, watched_page
from tests.support.service import Service, ServiceFactory

pytestmark = pytest.mark.browser


async def _run(service: Service, name: str, *, prefix: str = "q") -> dict[str, Any]:
    body = evaluation_body(queries=2, per_query=3)
    body["name"] = name
    for query in body["queries"]:
        query["query_id"] = query["query_id"].replace("q", prefix)
    status, run = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201, run
    result: dict[str, Any] = run
    return result


async def _grade_first(service: Service, run: dict[str, Any], grade: int) -> None:
    """A human grade for each query's first candidate (through the review queue's ids)."""
    status, queue = await service.request("GET", f"/evaluations/runs/{run['id']}/review-queue")
    assert status == 200, queue
    for item in queue["items"]:
        if item["rank"] == 1:
            status, body = await service.request(
                "PUT",
                f"/evaluations/runs/{run['id']}/candidates/{item['candidate_id']}/judgments/bob",
                json={"grade": grade},
            )
            assert status == 200, body


async def test_choosing_runs_to_compare(services: ServiceFactory, browser: BrowserContext) -> None:
    service = await services.start(role="api")
    baseline = await _run(service, "BM25 baseline")
    ranker = await _run(service, "Dense ranker")
    await _run(service, "Other query set", prefix="x")
    await _grade_first(service, baseline, 0)
    await _grade_first(service, ranker, 3)
    page, errors = await watched_page(browser)

    await log_in(page, f"{service.base_url}/ui/runs")
    compare = page.get_by_role("button", name="Compare")

    # One run is not a comparison: the page says so and stays.
    await page.get_by_label("Compare Dense ranker").check()
    await compare.click()
    await expect(page.locator("#compare-hint")).to_contain_text("at least two")
    await expect(page).to_have_url(re.compile(r"/ui/runs$"))

    await page.get_by_label("Compare BM25 baseline").check()
    await expect(page.locator("#compare-hint")).to_contain_text("2 runs checked")
    await compare.click()
    await expect(page).to_have_url(
        re.compile(rf"/ui/compare\?runs={baseline['id']}%2C{ranker['id']}")
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Comparison of 2 runs")
    # The differences name the run and the baseline, not their UUIDs.
    differences_heading = page.get_by_role("heading", level=2).first
    await expect(differences_heading).to_contain_text("baseline, BM25 baseline")
    differences = page.locator("table.differences tbody tr")
    await expect(differences).to_have_count(5)
    await expect(differences.first.locator("th")).to_have_text("Dense ranker")
    assert baseline["id"] not in await page.locator("table.differences").inner_text()
    ndcg = differences.filter(has_text="ndcg@10")
    assert float(await ndcg.locator("td").nth(3).inner_text()) > 0

    # Another run as the baseline, from the comparison itself.
    await page.get_by_role("link", name="make baseline").click()
    await expect(differences_heading).to_contain_text("baseline, Dense ranker")
    await expect(differences.first.locator("th")).to_have_text("BM25 baseline")

    # Runs without a shared query: said, not a table of 0.0000.
    await page.goto(f"{service.base_url}/ui/runs")
    await page.get_by_label("Compare BM25 baseline").check()
    await page.get_by_label("Compare Other query set").check()
    await compare.click()
    said = page.locator("#no-shared-queries")
    await expect(said).to_contain_text("share no query")
    await expect(said).to_contain_text("Other query set has 2 queries")
    await expect(page.locator("table.differences")).to_have_count(0)
    assert errors == []
