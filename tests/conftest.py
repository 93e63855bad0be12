"""Shared fixtures: a real PostgreSQL (embedded, or RELEVAL_DATABASE_URL) and the service
served by uvicorn on a loopback port, talked to over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import uvicorn
from starlette.applications import Starlette

from releval_judge.app import create_app
from releval_judge.config import Settings
from releval_judge.engine.judging import ProviderFactory
from releval_judge.providers import make_provider
from releval_judge.serving import listening_socket, server_config
from releval_judge.store.database import EmbeddedPostgres, apply_schema

TOKEN = "test-token"
# Every service of a test session shares one database, so one key (see secrets_check).
SECRET_KEY = "test-secret-key"
REPO = Path(__file__).resolve().parent.parent


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, name: str) -> AsyncIterator[str]:
    """The URL of a new, empty database ``name`` on ``server_url``'s server, dropped after."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this test session on a real PostgreSQL server."""
    base = os.environ.get("RELEVAL_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded: EmbeddedPostgres | None = None
    if base is None:
        embedded = EmbeddedPostgres(REPO / ".releval" / "test")
        base = await asyncio.to_thread(embedded.start)
    async with fresh_database(base, f"releval_test_{os.getpid()}") as url:
        yield url
    if embedded is not None:
        embedded.stop()


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool for tests that look at rows directly (schema applied by the first service)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def no_active_runs(db: asyncpg.Pool) -> None:
    """Runs left active by earlier tests (their providers gone) would be claimed by the
    service processes a test starts: cancelled first."""
    await apply_schema(db)  # the first test of a session may run before any service
    await db.execute(
        "UPDATE ai_judging_runs SET status = 'cancelled' WHERE status IN ('queued', 'running')"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """The service running under uvicorn in this event loop, plus a client with a token."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    base_url: str
    client: aiohttp.ClientSession
    settings: Settings

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.client.request(method, self.api + path, **kwargs) as resp:
            body = await resp.read()
            if not body:
                return resp.status, None
            return resp.status, await resp.json(content_type=None)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await self.client.close()


@dataclass
class ServiceFactory:
    database_url: str
    data_dir: Path
    started: list[Service] = field(default_factory=list)

    async def start(
        self, *, provider_factory: ProviderFactory = make_provider, **overrides: Any
    ) -> Service:
        port = free_port()
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "data_dir": self.data_dir,
            "api_tokens": TOKEN,
            "port": port,
            "secret_key": SECRET_KEY,
            "shutdown_grace_s": 5.0,
            # The tests' providers listen on 127.0.0.1 (the outbound policy refuses
            # loopback otherwise); tests about the policy override it.
            "provider_allow": "127.0.0.1",
        }
        values.update(overrides)
        settings = Settings.model_validate(values)
        app = create_app(settings, provider_factory=provider_factory)
        # As `releval-judge serve` does (releval_judge/serving.py), on loopback.
        config = server_config(app, settings, host="127.0.0.1", lifespan="on")
        server = uvicorn.Server(config)
        sock = listening_socket(config, settings)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{port}")
        while not server.started:
            if task.done():
                sock.close()
                task.result()
                raise RuntimeError("service did not start")
            await asyncio.sleep(0.01)
        client = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
        service = Service(server, task, f"http://127.0.0.1:{port}", client, settings)
        self.started.append(service)
        return service


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    factory = ServiceFactory(database_url, tmp_path)
    yield factory
    for service in factory.started:
        if not service.task.done():
            await service.stop()


@pytest.fixture
async def service(services: ServiceFactory) -> Service:
    return await services.start()


# --- data helpers ----------------------------------------------------------------------


def evaluation_body(
    *,
    queries: int = 2,
    per_query: int = 3,
    status: str = "completed",
    scale: dict[str, Any] | None = None,
    texts: Callable[[int, int], str] | None = None,
) -> dict[str, Any]:
    return {
        "name": f"run-{uuid.uuid4().hex[:8]}",
        "status": status,
        "scale": scale or {"min": 0, "max": 3, "labels": {"0": "irrelevant", "3": "perfect"}},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query number {q}",
                "candidates": [
                    {
                        "doc_id": f"d{q}-{r}",
                        "rank": r,
                        "title": f"title {q}-{r}",
                        "text": texts(q, r) if texts else f"document text {q}-{r}",
                    }
                    for r in range(1, per_query + 1)
                ],
            }
            for q in range(1, queries + 1)
        ],
    }


async def create_evaluation(service: Service, **kwargs: Any) -> dict[str, Any]:
    status, body = await service.request(
        "POST", "/evaluations/runs", json=evaluation_body(**kwargs)
    )
    assert status == 201, body
    result: dict[str, Any] = body
    return result


async def create_judge(service: Service, base_url: str, **fields: Any) -> dict[str, Any]:
    payload = {
        "name": "test judge",
        "provider": "openai",
        "model": "test-model",
        "base_url": base_url,
        "api_key": "sk-test-key",
        "batch_size": 3,
        "concurrency": 2,
        "max_retries": 2,
    }
    payload.update(fields)
    status, body = await service.request("POST", "/ai-judges", json=payload)
    assert status == 201, body
    result: dict[str, Any] = body
    return result


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.02
) -> None:
    """Poll until ``check`` is true; the timeout only stops a hung test."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(interval)


async def wait_until_ended(service: Service, judging_run_id: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def ended() -> bool:
        status, body = await service.request("GET", f"/ai-judging-runs/{judging_run_id}")
        assert status == 200, body
        result.update(body)
        return body["status"] not in ("queued", "running")

    await wait_for(ended)
    return result


async def wait_until_idle(service: Service) -> None:
    """Until the service has no judging-run task left (in-flight calls written or dropped)."""
    app = service.server.config.app
    assert isinstance(app, Starlette)
    runner = app.state.services.runner

    async def idle() -> bool:
        return bool(runner.active_count() == 0)

    await wait_for(idle)


def assert_error(status: int, body: Any, expected_status: int, code: str) -> dict[str, Any]:
    """The contract's error shape, ``{"error": {"code", "message", "details"}}``; returns it."""
    assert status == expected_status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error
