"""A documented walkthrough (the ``sh`` blocks of a section of a Markdown page) run as
written, with bash, curl and jq, against a test's service."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from tests.support.service import REPO, TOKEN, Service

SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def shell_blocks(page: Path, heading: str, count: int) -> list[str]:
    """The ``sh`` blocks of the section ``## heading`` of ``page``, in order: ``count``."""
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)^## ", page.read_text(), re.S | re.M)
    assert section, f"{page.relative_to(REPO)} has no '{heading}' section"
    blocks: list[str] = SHELL_BLOCK.findall(section.group(1))
    assert len(blocks) == count
    return blocks


async def walk(
    blocks: list[str],
    service: Service,
    cwd: Path,
    env: dict[str, str],
    *,
    timeout: float | None = None,
) -> list[str]:
    """Run ``blocks`` in one ``bash`` (``set -euo pipefail``), in ``cwd`` laid out as the
    docs assume (``.releval/dev-token``, ``examples/``), on the service instead of the docs'
    127.0.0.1:8080, with ``env`` and PATH only; what each block printed (it must succeed).
    ``timeout`` only stops a hung walkthrough."""
    (cwd / ".releval").mkdir()
    (cwd / ".releval" / "dev-token").write_text(TOKEN + "\n")
    shutil.copytree(REPO / "examples", cwd / "examples")
    host = service.base_url.removeprefix("http://")
    script = "set -euo pipefail\n" + "\n".join(
        f"echo '=== block {i}'\n{block}\necho" for i, block in enumerate(blocks)
    ).replace("127.0.0.1:8080", host)
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    stdout = out.decode()
    assert process.returncode == 0, (stdout, err.decode())
    return re.split(r"^=== block \d+\n", stdout, flags=re.M)[1:]
