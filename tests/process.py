"""The service as a real operating-system process, for tests that kill or signal it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import REPO, SECRET_KEY, TOKEN, free_port


@dataclass
class ServiceProcess:
    database_url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    starts: int = 0
    serve_args: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RELEVAL_DATABASE_URL": self.database_url,
            "RELEVAL_DATA_DIR": str(self.data_dir),
            "RELEVAL_PORT": str(self.port),
            "RELEVAL_API_TOKENS": TOKEN,
            "RELEVAL_SECRET_KEY": SECRET_KEY,
            "RELEVAL_LOG_FORMAT": "json",
            "RELEVAL_LOG_LEVEL": "debug",
            "RELEVAL_PROVIDER_ALLOW": "127.0.0.1",  # the tests' providers
            **self.env,
        }

    async def start(self) -> None:
        """Start ``python -m releval_judge serve`` and wait until /readyz answers 200."""
        self.starts += 1
        self.log_path = self.data_dir / f"service-{self.starts}.log"
        env = self._env()
        log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "releval_judge",
            "serve",
            *self.serve_args,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        async with aiohttp.ClientSession() as client, asyncio.timeout(60):
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"service exited: {self.log_path.read_text()[-3000:]}")
                try:
                    async with client.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def start_refused(self) -> int:
        """Start the process expecting it to refuse to start; its exit code."""
        self.starts += 1
        self.log_path = self.data_dir / f"service-{self.starts}.log"
        log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "releval_judge",
            "serve",
            *self.serve_args,
            cwd=REPO,
            env=self._env(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        async with asyncio.timeout(60):
            return await self.process.wait()

    async def terminate(self) -> int:
        """SIGTERM and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await self.process.wait()

    def logs(self) -> str:
        return "".join(
            (self.data_dir / f"service-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession(headers=headers) as client,
            client.request(method, self.api + path, **kwargs) as resp,
        ):
            body = await resp.read()
            return resp.status, (await resp.json(content_type=None)) if body else None

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
