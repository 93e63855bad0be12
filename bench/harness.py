"""What the benchmarks run against: a database, the service and the simulator as real
processes, and the meters read on them (CPU time, resident memory) with psutil."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil

from releval_judge.sim import StatsReport

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU seconds of these processes so far (gone ones count 0)."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Child:
    """A child process of the benchmark, with its log file."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.process.pid)

    def cpu_s(self) -> float:
        return cpu_seconds([self.ps])

    def rss_bytes(self) -> int:
        try:
            return int(self.ps.memory_info().rss)
        except psutil.Error:
            return 0

    async def stop(self, timeout_s: float = 30.0) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


async def spawn(name: str, args: list[str], env: dict[str, str], log_path: Path) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Child(name, process, log_path)


async def wait_http_ok(child: Child, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            if child.process.returncode is not None:
                raise RuntimeError(
                    f"{child.name} exited with code {child.process.returncode}:\n{child.tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} not ready at {url}:\n{child.tail()}")
            await asyncio.sleep(0.1)


# --- the database ------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    #: The server's processes (postmaster and backends), when it runs on this machine.
    postmaster: psutil.Process | None

    def cpu_s(self) -> float | None:
        if self.postmaster is None:
            return None
        with contextlib.suppress(psutil.Error):
            return cpu_seconds([self.postmaster, *self.postmaster.children(recursive=True)])
        return None


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _postmaster(pgdata: Path) -> psutil.Process | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


@contextlib.asynccontextmanager
async def database(data_dir: Path, suffix: str = "") -> AsyncIterator[Database]:
    """A fresh database for this benchmark, dropped at the end: on RELEVAL_DATABASE_URL's
    server when set, otherwise on an embedded PostgreSQL in ``data_dir``."""
    from releval_judge.store.database import EmbeddedPostgres

    base = os.environ.get("RELEVAL_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded: EmbeddedPostgres | None = None
    postmaster: psutil.Process | None = None
    if base is None:
        embedded = EmbeddedPostgres(data_dir)
        base = await asyncio.to_thread(embedded.start)
        postmaster = _postmaster((data_dir / "pgdata").resolve())
    name = f"releval_bench_{os.getpid()}{suffix}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield Database(_with_database(base, name), postmaster)
    finally:
        admin = await asyncpg.connect(base)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


# --- the service and the simulator -------------------------------------------------------


@dataclass
class Service:
    child: Child
    url: str
    token: str


@contextlib.asynccontextmanager
async def service(
    db: Database, data_dir: Path, token: str, *, role: str = "all"
) -> AsyncIterator[Service]:
    """``python -m releval_judge serve --role ROLE`` on a free port (logs in ``data_dir``)."""
    port = free_port()
    env = {
        **os.environ,
        "RELEVAL_DATABASE_URL": db.url,
        "RELEVAL_DATA_DIR": str(data_dir),
        "RELEVAL_HOST": "127.0.0.1",
        "RELEVAL_PORT": str(port),
        "RELEVAL_API_TOKENS": token,
        "RELEVAL_SECRET_KEY": "bench-secret-key",
        "RELEVAL_LOG_FORMAT": "json",
        "RELEVAL_ROOT_PATH": "",
        "RELEVAL_SHUTDOWN_GRACE_S": "5",
        # The simulator ends a provider batch in seconds (the cost scenario).
        "RELEVAL_BATCH_POLL_S": "0.5",
        "RELEVAL_ROLE": role,
        # The simulator (and the hostile providers of bench/answer_cap.py) on loopback.
        "RELEVAL_PROVIDER_ALLOW": "127.0.0.1",
    }
    child = await spawn(
        "service",
        [sys.executable, "-m", "releval_judge", "serve"],
        env,
        data_dir / "bench-service.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http_ok(child, url + "/readyz")
        yield Service(child, url, token)
    finally:
        await child.stop()


@dataclass
class Sim:
    child: Child
    url: str
    session: aiohttp.ClientSession

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    async def stats(self) -> StatsReport:
        async with self.session.get(self.url + "/stats") as resp:
            return StatsReport.model_validate(await resp.json())

    async def reset(self) -> None:
        async with self.session.post(self.url + "/stats/reset") as resp:
            resp.raise_for_status()


@contextlib.asynccontextmanager
async def simulator(config: dict[str, Any], data_dir: Path) -> AsyncIterator[Sim]:
    """``releval-judge sim --port P --config JSON`` in its own process."""
    port = free_port()
    child = await spawn(
        "simulator",
        [
            sys.executable,
            "-m",
            "releval_judge",
            "sim",
            "--port",
            str(port),
            "--config",
            json.dumps(config),
        ],
        dict(os.environ),
        data_dir / "bench-sim.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http_ok(child, url + "/healthz")
        async with aiohttp.ClientSession() as session:
            yield Sim(child, url, session)
    finally:
        await child.stop()


class RssSampler:
    """Samples a process's resident memory every ``interval_s`` until stopped."""

    def __init__(self, child: Child, interval_s: float = 0.25) -> None:
        self.child = child
        self.interval_s = interval_s
        self.peak = child.rss_bytes()
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.child.rss_bytes())
            self.samples += 1
            await asyncio.sleep(self.interval_s)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run(), name=f"rss-{self.child.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.peak = max(self.peak, self.child.rss_bytes())
