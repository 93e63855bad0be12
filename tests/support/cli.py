"""The service's commands (``python -m releval_judge …`` and its sub-modules) run in a
subprocess, as a user runs them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def run(
    module: str, *args: str, env: Mapping[str, str], timeout: float | None = None
) -> Result:
    """``python -m module args`` with exactly the environment ``env``; its exit code and
    output once it has exited. ``timeout`` only stops a hung command."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the command in a subprocess, as a user would (the service keeps serving), with
    no RELEVAL_ setting of this process's but those of ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELEVAL_")}
    return await run("releval_judge", *args, env=environ | (env or {}))
