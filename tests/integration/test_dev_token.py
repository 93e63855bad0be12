"""The development token is kept in RELEVAL_DATA_DIR, and everything that names its file
(the start-up message, the login page) names the one the service uses."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.process import ServiceProcesses
from tests.support.service import Service


@pytest.mark.usefixtures("no_active_runs")
async def test_serving_the_demos_data_names_its_token_file(
    processes: ServiceProcesses, tmp_path: Path
) -> None:
    # As the demo's "where to look next" says: RELEVAL_DATA_DIR=.releval/demo make run
    service = processes.as_documented(tmp_path, {"RELEVAL_DATA_DIR": ".releval/demo"})
    await service.start()
    token_file = tmp_path / ".releval" / "demo" / "dev-token"
    token = token_file.read_text().strip()
    assert not (tmp_path / ".releval" / "dev-token").exists()
    assert "kept in .releval/demo/dev-token:" in service.logs()
    assert f"export TOKEN={token}" in service.logs()

    base = f"http://127.0.0.1:{service.port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        async with client.get(f"{base}/ui/login") as resp:
            page = await resp.text()
        assert '<code id="dev-token-file">.releval/demo/dev-token</code>' in page
        assert ".releval/dev-token" not in page
        async with client.post(
            f"{base}/ui/login", data={"token": token}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        headers = {"Authorization": f"Bearer {token}"}
        async with client.get(f"{base}/api/v1/evaluations/runs", headers=headers) as resp:
            assert resp.status == 200


async def test_with_static_tokens_the_login_page_names_no_token_file(service: Service) -> None:
    async with service.client.get(f"{service.base_url}/ui/login") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "RELEVAL_API_TOKENS" in page and "dev-token" not in page
