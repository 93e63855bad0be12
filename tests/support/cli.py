"""``python -m releval_judge …`` run in a subprocess, as a user runs the command."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the command in a subprocess, as a user would (the service keeps serving), with
    no RELEVAL_ setting of this process's but those of ``env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVAL_")} | (env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "releval_judge",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())
