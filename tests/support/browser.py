"""The browser the UI tests drive: Debian's chromium (never a downloaded one), its
arguments, the two window sizes the pages are checked at, and where screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import ViewportSize

from tests.support.service import REPO

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
