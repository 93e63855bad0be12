"""The browser the UI tests drive: Debian's chromium (never a downloaded one), its
arguments, the two window sizes the pages are checked at, where screenshots go, and the
set-up every page test starts with (the page, its script errors, logging in)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import BrowserContext, Page, ViewportSize

from tests.support.service import REPO, TOKEN

CHROMIUM = Path(os.environ.get("RELEVAL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts"
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)


async def watched_page(browser: BrowserContext) -> tuple[Page, list[str]]:
    """The browser's page, and the list its uncaught script errors are appended to (a test
    ends by asserting it empty)."""
    page = browser.pages[0] if browser.pages else await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


async def log_in(page: Page, url: str, token: str = TOKEN, *, judge_name: str = "") -> None:
    """Open ``url``: the UI sends an anonymous visitor to its login page, where this logs in
    with ``token`` (and, when given, the name to grade under), and back to ``url``."""
    await page.goto(url)
    await page.get_by_label("API token").fill(token)
    if judge_name:
        await page.get_by_label("Your name as a human judge").fill(judge_name)
    await page.get_by_role("button", name="Log in").click()
