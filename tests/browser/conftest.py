"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's Python API.

No browser is ever downloaded (`playwright install` is never run): the wheel's bundled
driver starts the system's chromium. `make test` installs it first (scripts/system-packages),
so a missing browser is a failure, never a skip: no run passes without these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DESKTOP


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/system-packages installs Debian's chromium")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A fresh profile (user-data-dir) per test, desktop-sized."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
