"""What the demo starts and stops: the database, the provider simulator, the service's
processes; and what it reads from the database as an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from releval_judge.client.api import ApiClient
from releval_judge.demo.errors import DemoError
from releval_judge.store.human import HumanJudgmentWrite

SERVICE_START_TIMEOUT_S = 120.0
SERVICE_STOP_TIMEOUT_S = 20.0
# How long the simulator takes to end a provider batch in the demo.
SIM_BATCH_S = 4.0


async def lease_owner(database_url: str, judging_run_id: str) -> str | None:
    """Which replica holds the run's lease (read from the database, as an operator would)."""
    from releval_judge.store.database import create_pool
    from releval_judge.store.store import Store

    pool = await create_pool(database_url, size=2)
    try:
        return await Store(pool).lease_owner(judging_run_id)
    finally:
        await pool.close()


async def load_human_judgments(
    database_url: str, evaluation_run_id: str, judgments: Sequence[HumanJudgmentWrite]
) -> int:
    """The sample's human grades in one all-or-nothing write through the store (the REST
    route takes one judgment per call, by candidate id); how many were written."""
    from releval_judge.store.database import create_pool
    from releval_judge.store.human import HumanJudgments

    pool = await create_pool(database_url, size=2)
    try:
        # Written by the demo itself, not through a token: their history says so.
        return await HumanJudgments(pool).add(evaluation_run_id, judgments, by="demo")
    finally:
        await pool.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.asynccontextmanager
async def embedded_database(data_dir: Path) -> AsyncIterator[str]:
    """An embedded PostgreSQL in ``data_dir`` for the demo's lifetime; yields its URL."""
    from releval_judge.store.database import EmbeddedPostgres

    embedded = EmbeddedPostgres(data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def simulator(latency_ms: float) -> AsyncIterator[tuple[int, web.AppRunner]]:
    """The provider simulator in this process, with a few faults on purpose: about one
    answer in ten drops a candidate, and one call in twenty answers 503 (retried). Its
    batch APIs end a batch in SIM_BATCH_S."""
    from releval_judge.sim import SimConfig, run_sim

    config = SimConfig(
        batch_completion_s=SIM_BATCH_S,
        latency_ms=latency_ms,
        latency_p99_ms=latency_ms * 3 if latency_ms > 0 else None,
        error_rate_fewer=0.1,
        error_rate_503=0.05,
        seed=7,
    )
    runner, port = await run_sim(config, port=0)
    try:
        yield port, runner
    finally:
        await runner.cleanup()


@dataclass
class ServiceProcess:
    process: asyncio.subprocess.Process
    url: str
    log_path: Path


@contextlib.asynccontextmanager
async def service_process(
    *,
    database_url: str,
    data_dir: Path,
    token: str,
    log_path: Path,
    batch_poll_s: float = 30.0,
    lease_ttl_s: float | None = None,
    provider_allow: str | None = None,
) -> AsyncIterator[ServiceProcess]:
    """``python -m releval_judge serve`` on a free port; stopped with SIGTERM at the end
    (killed if it does not stop within SERVICE_STOP_TIMEOUT_S). ``provider_allow`` is
    added to the environment's RELEVAL_PROVIDER_ALLOW (the simulator the demo started)."""
    port = free_port()
    env = {
        **os.environ,
        "RELEVAL_HOST": "127.0.0.1",
        "RELEVAL_PORT": str(port),
        "RELEVAL_API_TOKENS": token,
        "RELEVAL_DATABASE_URL": database_url,
        "RELEVAL_DATA_DIR": str(data_dir),
        "RELEVAL_ROOT_PATH": "",
        "RELEVAL_LOG_FORMAT": "json",
        "RELEVAL_SHUTDOWN_GRACE_S": "5",
        "RELEVAL_BATCH_POLL_S": str(batch_poll_s),
    }
    if provider_allow:
        allowed = os.environ.get("RELEVAL_PROVIDER_ALLOW", "")
        env["RELEVAL_PROVIDER_ALLOW"] = ",".join(a for a in (allowed, provider_allow) if a)
    if lease_ttl_s is not None:
        # Replicas: a killed one's run is taken over once its lease expires.
        env["RELEVAL_LEASE_TTL_S"] = str(lease_ttl_s)
        env["RELEVAL_CLAIM_INTERVAL_S"] = "1"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "releval_judge",
            "serve",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        yield service
    finally:
        await stop_process(process, SERVICE_STOP_TIMEOUT_S)


async def stop_process(process: asyncio.subprocess.Process, timeout_s: float) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_until_ready(api: ApiClient, service: ServiceProcess) -> None:
    """Wait for ``/readyz``; fail early, with the service's last log lines, if it exits."""
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while not await api.ready():
        if service.process.returncode is not None:
            raise DemoError(
                f"the service exited with code {service.process.returncode} while starting; "
                f"last lines of {service.log_path}:\n{log_tail(service.log_path)}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"the service was not ready within {SERVICE_START_TIMEOUT_S:g} s; "
                f"see {service.log_path}"
            )
        await asyncio.sleep(0.1)
