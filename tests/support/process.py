"""The service as a real operating-system process, for tests that kill or signal it, and
several of them on one database (replicas); what a process logged, as events."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.service import REPO, SECRET_KEY, TOKEN, free_port
from tests.support.waiting import wait_for


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
    # Where it runs, and whether it inherits the test's environment and settings: a
    # process ``as_documented`` runs in a folder laid out like the checkout with only the
    # environment a page shows (see ``ServiceProcesses.as_documented``).
    cwd: Path = REPO
    documented: bool = False

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _env(self) -> dict[str, str]:
        if self.documented:
            # What a user's shell would not have: the test's database (instead of an
            # embedded one per test), a free port (the page's 8080 may be taken) and the
            # session's key (every service on that database needs the same one).
            return {
                "PATH": "/usr/bin:/bin",
                "RELEVAL_DATABASE_URL": self.database_url,
                "RELEVAL_PORT": str(self.port),
                "RELEVAL_SECRET_KEY": SECRET_KEY,
                **self.env,
            }
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

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, Path]:
        """``python -m releval_judge serve``, its output in a log file of its own; both."""
        self.starts += 1
        self.log_path = log_path = self.data_dir / f"service-{self.starts}.log"
        with log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "releval_judge",
                "serve",
                *self.serve_args,
                cwd=self.cwd,
                env=self._env(),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        return self.process, log_path

    async def start(self) -> None:
        """Start ``python -m releval_judge serve`` and wait until /readyz answers 200."""
        process, log_path = await self._spawn()
        async with aiohttp.ClientSession() as client, asyncio.timeout(60):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"service exited: {log_path.read_text()[-3000:]}")
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
        process, _ = await self._spawn()
        async with asyncio.timeout(60):
            return await process.wait()

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


@dataclass
class ServiceProcesses:
    """Service processes on one database, each with a data directory of its own below
    ``root``; ``stop()`` kills every one still running (the ``processes`` fixture calls it
    after the test)."""

    database_url: str
    root: Path
    made: list[ServiceProcess] = field(default_factory=list)

    def new(
        self,
        name: str = "service",
        *,
        env: dict[str, str] | None = None,
        serve_args: list[str] | None = None,
    ) -> ServiceProcess:
        """A process, not started yet, whose data directory is ``root / name``."""
        data_dir = self.root / name
        data_dir.mkdir()
        process = ServiceProcess(
            self.database_url, data_dir, env=env or {}, serve_args=serve_args or []
        )
        self.made.append(process)
        return process

    def as_documented(self, cwd: Path, env: dict[str, str]) -> ServiceProcess:
        """A process, not started yet, as a page's ``make run`` starts it: in ``cwd``, with
        only ``env`` (what the page exports or sets) besides the database, the port and
        the secret key; its data folder is RELEVAL_DATA_DIR's (``.releval`` unless set),
        so that the development token lands where the page says."""
        data_dir = cwd / env.get("RELEVAL_DATA_DIR", ".releval")
        data_dir.mkdir(parents=True, exist_ok=True)
        process = ServiceProcess(self.database_url, data_dir, env=env, cwd=cwd, documented=True)
        self.made.append(process)
        return process

    async def start_replicas(
        self, count: int, *, env: dict[str, str] | None = None
    ) -> list[ServiceProcess]:
        """``count`` replicas with the same settings, started one after the other."""
        replicas = [self.new(f"r{i}", env=env) for i in range(count)]
        for replica in replicas:
            await replica.start()
        return replicas

    async def stop(self) -> None:
        for process in self.made:
            await process.stop()  # SIGKILL ends a paused (SIGSTOP) process too


def log_events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``text`` (a process's output), parsed."""
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def events(service: ServiceProcess, name: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """The events ``name`` the process logged (about judging run ``run_id`` if given)."""
    return [
        e
        for e in log_events(service.logs())
        if e.get("event") == name and (run_id is None or e.get("judging_run_id") == run_id)
    ]


async def wait_for_event(service: ServiceProcess, name: str, run_id: str | None = None) -> None:
    async def seen() -> bool:
        return bool(events(service, name, run_id))

    await wait_for(seen, timeout=60)
