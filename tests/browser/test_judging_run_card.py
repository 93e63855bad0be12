"""The evaluation run page's judging-run card after a cancel, in a real browser: calls
that were in flight when the run was cancelled still record their judgments, and the
card shows the run's final counts, not those of the moment of the cancel."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, expect

from tests.support.api import create_evaluation, create_judge, start_run
from tests.support.browser import log_in, watched_page
from tests.support.fakes import FakeProviders, blocks, completion, document_ids
from tests.support.service import ServiceFactory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser


async def test_a_cancelled_runs_card_shows_its_final_counts(
    services: ServiceFactory, browser: BrowserContext, fake_provider: FakeProviders
) -> None:
    service = await services.start()
    gate = asyncio.Event()

    async def held(prompt: str, call_no: int) -> web.Response:
        await gate.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))

    provider = await fake_provider(held)
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    judge = await create_judge(service, provider.base_url, batch_size=3, concurrency=2)
    page, errors = await watched_page(browser)
    # Records the statuses the page's event streams deliver, to know when the page has
    # heard of the cancel from its stream (not only from the Cancel button's answer).
    await page.add_init_script(
        """(() => {
            window.__heard = [];
            const Original = window.EventSource;
            window.EventSource = function (url) {
                const source = new Original(url);
                for (const name of ["progress", "end"]) {
                    source.addEventListener(name, (e) =>
                        window.__heard.push(name + ":" + JSON.parse(e.data).status));
                }
                return source;
            };
        })()"""
    )
    await log_in(page, f"{service.base_url}/ui/runs/{evaluation['id']}")

    run = await start_run(service, evaluation["id"], judge["id"])
    await page.reload()
    card = page.locator(f'[data-judging-run="{run["id"]}"]')
    await expect(card.locator('[data-field="status"]')).to_have_text("running")

    async def both_calls_in_flight() -> bool:
        return provider.in_flight == 2

    await wait_for(both_calls_in_flight)
    await card.get_by_role("button", name="Cancel").click()
    await expect(card.locator('[data-field="status"]')).to_have_text("cancelled")
    await expect(card.locator('[data-field="judged"]')).to_have_text("0")

    async def stream_told_cancelled() -> bool:
        heard: list[str] = await page.evaluate("() => window.__heard")
        return any(h.endswith(":cancelled") for h in heard)

    await wait_for(stream_told_cancelled)

    gate.set()  # the two calls in flight answer after the cancel

    async def final() -> bool:
        status, body = await service.request("GET", f"/ai-judging-runs/{run['id']}")
        assert status == 200, body
        return bool(body["judged"] == 6)

    await wait_for(final)
    await expect(card.locator('[data-field="judged"]')).to_have_text("6")
    await expect(card.locator('[data-field="percent"]')).to_have_text("100%")
    await expect(card.locator('[data-field="status"]')).to_have_text("cancelled")
    assert errors == []
