"""The README's curl walk-through (the seed's start, poll and cancel calls) works as written."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.fakes import FakeProviders, completion
from tests.support.service import REPO, TOKEN, ServiceFactory

SECTION = re.compile(r"^## A judging run with curl\n(.*?)^## ", re.S | re.M)
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def readme_script(*, before_cancel: str = "") -> str:
    """The section's shell blocks in order; ``before_cancel`` goes before the last one."""
    text = (REPO / "README.md").read_text()
    section = SECTION.search(text)
    assert section, "README has no 'A judging run with curl' section"
    blocks = SHELL_BLOCK.findall(section.group(1))
    assert len(blocks) == 5
    blocks[-1] = before_cancel + blocks[-1]
    return "\n".join(f"echo '=== block {i}'\n{b}\necho" for i, b in enumerate(blocks))


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
    (tmp_path / ".releval").mkdir()
    (tmp_path / ".releval" / "dev-token").write_text(TOKEN + "\n")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    host = service.base_url.removeprefix("http://")
    # The cancel block waits for the run's first call, so that the call (and the key it
    # carries) is there to check however long the run takes to be claimed.
    wait = "until [ -e called ]; do sleep 0.02; done\n"
    script = "set -euo pipefail\n" + readme_script(before_cancel=wait).replace(
        "127.0.0.1:8080", host
    )
    try:
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PROVIDER_BASE_URL": provider.base_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    finally:
        release.set()
    stdout = out.decode()
    assert process.returncode == 0, (stdout, err.decode())
    outputs = re.split(r"^=== block \d+\n", stdout, flags=re.M)[1:]
    started, listed, cancelled = outputs[2], outputs[3], outputs[4]
    assert '"status":"queued"' in started
    assert '"ai_judging_runs"' not in listed and '"items":[{' in listed
    assert '"status":"cancelled"' in cancelled
    assert '"created_by":"static","cancelled_by":"static"' in cancelled
    assert provider.calls and provider.calls[0].headers["Authorization"] == "Bearer sk-from-env"
