"""The judging run page's audit card in a real browser: start an audit of a run judged by
a judge that favours the first document of its batch, and see the page show its verdict
and the grade-by-position plot; the evaluation run page's estimate says what reuse saves."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from releval_judge.sim import SimConfig
from tests.support.audits import judged_run
from tests.support.servers import LocalServers
from tests.support.service import TOKEN, ServiceFactory

pytestmark = pytest.mark.browser


async def test_an_audit_started_from_the_page_shows_its_verdict(
    services: ServiceFactory,
    browser: BrowserContext,
    local_servers: LocalServers,
    artifacts: Path,
) -> None:
    service = await services.start()
    port = await local_servers.sim(
        SimConfig(
            latency_ms=0, seed=7, position_bias=1, behaviour_models=frozenset({"biased-model"})
        )
    )
    run = await judged_run(
        service,
        f"http://127.0.0.1:{port}/v1",
        model="biased-model",
        queries=4,
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
    )
    page = browser.pages[0] if browser.pages else await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{service.base_url}/ui/judging-runs/{run['id']}")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()

    audits = page.locator("#audits")
    await expect(audits.get_by_text("No audit of this run yet.")).to_be_visible()
    await page.get_by_label("Sample size").fill("40")
    await page.get_by_label("Seed").fill("3")
    await page.get_by_role("button", name="Start an audit").click()

    # The page polls the audit and is drawn again once it ended.
    card = audits.locator(".audit-card").first
    await expect(card.locator('[data-field="verdict"]')).to_have_text(
        "Verdict: order-sensitive", timeout=30_000
    )
    await expect(card).to_contain_text("(seed 3,")
    await expect(card.locator('[data-field="position"]')).to_contain_text("95% interval")
    plot = card.locator("svg.position")
    await expect(plot).to_be_visible()
    first = float(await plot.locator('[data-position="first"]').get_attribute("data-mean") or "")
    last = float(await plot.locator('[data-position="last"]').get_attribute("data-mean") or "")
    assert first > last  # the biased judge grades a document higher when it comes first
    await card.screenshot(path=str(artifacts / "audit-card.png"))
    status, listed = await service.request("GET", f"/ai-judging-runs/{run['id']}/audits")
    assert status == 200 and listed["items"][0]["verdict"] == "order_sensitive", listed

    # The same judge again on the same run: every candidate is answered by reuse.
    await page.goto(f"{service.base_url}/ui/runs/{run['evaluation_run_id']}")
    await page.get_by_role("button", name="Run AI Judge").click()
    estimate = page.locator("#estimate-text")
    await expect(estimate).to_contain_text("40 candidates; 40 reusable (no call, no cost)")
    await expect(estimate).to_contain_text("without reuse)")
    await page.locator("#run-ai-judge-panel").screenshot(path=str(artifacts / "estimate.png"))
    assert errors == []
