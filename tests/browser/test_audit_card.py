"""The judging run page's audit card in a real browser: start an audit of a run judged by
a judge that favours the first document of its batch, and see the page show its verdict
and the grade-by-position plot; the evaluation run page's estimate says what reuse saves.
A running audit is cancelled from its card (a read token gets no Cancel) and the card then
shows what it spent."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.audits import CountingProvider, audit_state, judged_run
from tests.support.browser import log_in, watched_page
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory
from tests.support.tokens import create_token
from tests.support.waiting import wait_for

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
    page, errors = await watched_page(browser)
    await log_in(page, f"{service.base_url}/ui/judging-runs/{run['id']}")

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


async def test_a_running_audit_is_cancelled_from_its_card_and_keeps_what_it_spent(
    services: ServiceFactory,
    browser: BrowserContext,
    local_servers: LocalServers,
    artifacts: Path,
) -> None:
    service = await services.start()
    provider = await local_servers.start(CountingProvider())
    judge = await create_judge(
        service,
        provider.fake.base_url,
        batch_size=3,
        concurrency=1,
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
    )
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    started = await start_run(service, evaluation["id"], judge["id"], reuse="none")
    run = await wait_until_ended(service, started["id"])
    provider.counting = True
    provider.answer_only(1)  # the audit's first call is answered, its second held
    status, audit = await service.request(
        "POST", f"/ai-judging-runs/{run['id']}/audits", json={"sample_size": 6}
    )
    assert status == 201, audit

    async def second_call_held() -> bool:
        return len(provider.asked) == 2 and (await audit_state(service, audit["id"]))["calls"] == 1

    await wait_for(second_call_held, timeout=30)
    page, errors = await watched_page(browser)
    url = f"{service.base_url}/ui/judging-runs/{run['id']}"

    # A read token sees the running audit but is offered no Cancel, as no Start.
    reader = (await create_token(service, ["read"], name="auditor"))["token"]
    await log_in(page, url, reader)
    card = page.locator(f'.audit-card[data-audit="{audit["id"]}"]')
    await expect(card.locator('[data-field="audit-status"]')).to_have_text("running")
    await expect(card.get_by_role("button", name="Cancel audit")).to_have_count(0)
    await expect(page.get_by_role("button", name="Start an audit")).to_be_disabled()
    await expect(card.locator('[data-field="calls"]')).to_have_text("1")

    await browser.clear_cookies()
    await log_in(page, url)
    await card.get_by_role("button", name="Cancel audit").click()

    # The page is drawn again: cancelled, no verdict, the answered call and its cost kept.
    await expect(card.locator('[data-field="audit-status"]')).to_have_text("cancelled")
    await expect(card.get_by_role("button", name="Cancel audit")).to_have_count(0)
    await expect(card.locator('[data-field="calls"]')).to_have_text("1")
    await expect(card.locator('[data-field="audit-cost"]')).to_have_text("0.00036")
    await expect(card.locator('[data-field="verdict"]')).to_have_count(0)
    await card.screenshot(path=str(artifacts / "audit-cancelled.png"))
    after = await audit_state(service, audit["id"])
    assert (after["status"], after["calls"], after["input_tokens"]) == ("cancelled", 1, 100)
    assert len(provider.asked) == 2  # no call after the cancel
    assert errors == []
