"""Every page of the UI at 1280 and 390 px wide, as PNGs in tests/artifacts/review/
(git-ignored) for the screenshot review in docs/ui.md: every page answers as expected
(200; 404 for the unknown run), none scrolls sideways at 390 px, none raises a script
error."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page

from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.browser import DESKTOP, PHONE, watched_page
from tests.support.fakes import FakeProvider, FakeProviders, error
from tests.support.panels import make_panel, marked_text, start_panel, wait_panel_ended
from tests.support.service import TOKEN, ServiceFactory

pytestmark = pytest.mark.browser


async def _missing_model(prompt: str, call_no: int) -> web.Response:
    return error(404, "The model `no-such-model` does not exist")


async def _overflow(page: Page) -> int:
    value: int = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return value


async def test_every_page_at_both_widths(
    services: ServiceFactory,
    browser: BrowserContext,
    fake_provider: FakeProviders,
    panel_members: list[FakeProvider],
    artifacts: Path,
) -> None:
    service = await services.start()
    evaluation = await create_evaluation(service, texts=marked_text)
    other = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, panel_members)
    panel_run = await start_panel(service, evaluation["id"], panel["id"])
    assert (await wait_panel_ended(service, panel_run["id"]))["status"] == "completed"
    broken = await create_judge(
        service, (await fake_provider(_missing_model)).base_url, name="misconfigured judge"
    )
    failed = await start_run(service, evaluation["id"], broken["id"])
    assert (await wait_until_ended(service, failed["id"]))["status"] == "failed"
    judge = await create_judge(service, (await fake_provider()).base_url, name="grader")
    done = await start_run(service, other["id"], judge["id"])
    assert (await wait_until_ended(service, done["id"]))["status"] == "completed"

    e, o = evaluation["id"], other["id"]
    pages = {
        "runs": "/ui/runs",
        "run": f"/ui/runs/{e}",
        "judging-run-failed": f"/ui/judging-runs/{failed['id']}",
        "judging-run": f"/ui/judging-runs/{done['id']}",
        "review": f"/ui/runs/{e}/review?source=ai",
        "queue": f"/ui/runs/{e}/queue",
        "metrics": f"/ui/runs/{e}/metrics",
        "compare": f"/ui/compare?runs={e},{o}",
        "compare-choose": "/ui/compare",
        "panel-run": f"/ui/panel-runs/{panel_run['id']}",
        "judges": "/ui/judges",
        "judge": f"/ui/judges/{judge['id']}",
        "judge-new": "/ui/judges/new",
        "not-found": "/ui/runs/00000000-0000-0000-0000-000000000000",
    }
    folder = artifacts / "review"
    folder.mkdir(exist_ok=True)
    page, errors = await watched_page(browser)

    await page.goto(f"{service.base_url}/ui/login")
    for size, width in ((DESKTOP, 1280), (PHONE, 390)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(folder / f"login-{width}.png"), full_page=True)
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_label("Your name as a human judge").fill("alice")
    await page.get_by_role("button", name="Log in").click()

    wide: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for size, width in ((DESKTOP, 1280), (PHONE, 390)):
        await page.set_viewport_size(size)
        for name, path in pages.items():
            response = await page.goto(f"{service.base_url}{path}")
            assert response is not None
            statuses[name] = response.status
            await page.wait_for_load_state("networkidle")
            await page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
            if width == 390 and await _overflow(page) > 0:
                wide[name] = await _overflow(page)
    # A broken page would otherwise be reviewed as a picture of an error.
    assert statuses == {name: 404 if name == "not-found" else 200 for name in pages}, statuses
    assert wide == {}, f"pages that scroll sideways at 390 px: {wide}"
    assert errors == []
