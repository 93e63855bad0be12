"""A panel run's aggregate judgments in a real browser: pages of 50 rows with Next and
Previous (not 200 rows on one page), and the agreement's labels as written (κ and α,
not upper-cased by CSS into "K" and "A")."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.api import create_evaluation
from tests.support.browser import log_in, watched_page
from tests.support.panels import make_panel, member, start_panel, wait_panel_ended
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory

pytestmark = pytest.mark.browser

QUERIES, PER_QUERY = 6, 10  # 60 aggregate judgments: a full page and 10 more


def _marked(q: int, r: int) -> str:
    """Members 0 and 1 agree; member 2 is three grades off on every seventh candidate."""
    grade = (q + r) % 4
    odd = 3 - grade if (q * PER_QUERY + r) % 7 == 0 else grade
    return f"document {q}-{r} grades {grade}{grade}{odd}"


async def test_the_paged_panel_table(
    services: ServiceFactory, local_servers: LocalServers, browser: BrowserContext
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(
        service, queries=QUERIES, per_query=PER_QUERY, texts=_marked
    )
    providers = [await local_servers.start(member(i)) for i in range(3)]
    panel = await make_panel(service, providers)
    run = await start_panel(service, evaluation["id"], panel["id"])
    assert (await wait_panel_ended(service, run["id"]))["status"] == "completed"
    page, errors = await watched_page(browser)

    await log_in(page, f"{service.base_url}/ui/panel-runs/{run['id']}")
    agreement = page.locator("#agreement")
    # inner_text is the text as rendered, CSS text-transform included.
    shown = await agreement.inner_text()
    assert "Fleiss' κ" in shown and "Krippendorff's α" in shown, shown

    rows = page.locator("table.panel-judgments tbody tr")
    await expect(rows).to_have_count(50)
    where = page.locator(".pager-where").first
    await expect(where).to_have_text("Rows 1–50 of 60")
    await expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    first_page = await rows.locator("td:nth-child(2)").all_inner_texts()

    await page.get_by_role("link", name="Next page").first.click()
    await expect(rows).to_have_count(10)
    await expect(where).to_have_text("Rows 51–60 of 60")
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    second_page = await rows.locator("td:nth-child(2)").all_inner_texts()
    assert not set(first_page) & set(second_page)
    assert len(set(first_page) | set(second_page)) == QUERIES * PER_QUERY

    await page.get_by_role("link", name="Previous page").first.click()
    await expect(rows).to_have_count(50)
    await expect(where).to_have_text("Rows 1–50 of 60")
    assert await rows.locator("td:nth-child(2)").all_inner_texts() == first_page

    # Only the disagreements: fewer than a page, the filter kept.
    await page.get_by_role("link", name="only the disagreements").click()
    disagreements = await rows.count()
    assert 0 < disagreements < 50
    await expect(where).to_have_text(f"Rows 1–{disagreements} of {disagreements}")
    for row in await rows.all():
        await expect(row.locator("td").last).to_have_text("yes")
    assert errors == []
