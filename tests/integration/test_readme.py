"""The README's curl walk-through (the seed's start, poll and cancel calls) works as written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.fakes import FakeProviders, completion
from tests.support.service import REPO, ServiceFactory
from tests.support.walkthrough import shell_blocks, walk


async def test_readme_curl_walkthrough(
    services: ServiceFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProviders,
) -> None:
    release = asyncio.Event()

    async def held(prompt: str, call_no: int) -> web.Response:
        (tmp_path / "called").touch()
        await release.wait()
        return completion("")

    provider = await fake_provider(held)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    service = await services.start()
    blocks = shell_blocks(REPO / "README.md", "A judging run with curl", 5)
    # The cancel block waits for the run's first call, so that the call (and the key it
    # carries) is there to check however long the run takes to be claimed.
    blocks[-1] = "until [ -e called ]; do sleep 0.02; done\n" + blocks[-1]
    try:
        outputs = await walk(blocks, service, tmp_path, {"PROVIDER_BASE_URL": provider.base_url})
    finally:
        release.set()
    started, listed, cancelled = outputs[2], outputs[3], outputs[4]
    assert '"status":"queued"' in started
    assert '"ai_judging_runs"' not in listed and '"items":[{' in listed
    assert '"status":"cancelled"' in cancelled
    assert '"created_by":"static","cancelled_by":"static"' in cancelled
    assert provider.calls and provider.calls[0].headers["Authorization"] == "Bearer sk-from-env"
