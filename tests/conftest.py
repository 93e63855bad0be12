"""The tests' fixtures: a real PostgreSQL (embedded, or RELEVAL_DATABASE_URL), the service
served by uvicorn on a loopback port and talked to over real HTTP, service processes on
the same database (replicas), the local servers a test starts (fake providers, the
simulator, hostile servers), and a client logged in to the UI. What they are built from
lives in tests/support/; a test imports from there, never from here."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from releval_judge.store.database import EmbeddedPostgres, apply_schema
from tests.support.database import forget_fingerprints, fresh_database
from tests.support.fakes import (
    FakeProvider,
    FakeProviders,
    Responder,
    blocks,
    completion,
    document_ids,
    grade_all_two,
)
from tests.support.panels import member
from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO, Service, ServiceFactory
from tests.support.ui import cookie_header


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


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Starts services in this event loop on the session's database; stops them after."""
    factory = ServiceFactory(database_url, tmp_path)
    yield factory
    await factory.stop()
    await forget_fingerprints(database_url)


@pytest.fixture
async def service(services: ServiceFactory) -> Service:
    return await services.start()


@pytest.fixture
async def processes(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceProcesses]:
    """Service processes (``python -m releval_judge serve``) on the session's database, for
    tests that kill or signal them or run replicas; killed after the test."""
    factory = ServiceProcesses(database_url, tmp_path)
    yield factory
    await factory.stop()
    await forget_fingerprints(database_url)


@pytest.fixture
async def local_servers(services: ServiceFactory) -> AsyncIterator[LocalServers]:
    """The local servers a test starts, stopped after it, before its services stop: so
    that no service waits out its grace period on a call a fake provider still holds."""
    servers = LocalServers()
    yield servers
    await servers.close()


@pytest.fixture
def fake_provider(local_servers: LocalServers) -> FakeProviders:
    """``await fake_provider(respond)``: a started FakeProvider, stopped after the test."""

    async def start(respond: Responder = grade_all_two) -> FakeProvider:
        return await local_servers.start(FakeProvider(respond))

    return start


@pytest.fixture
async def stalled_provider(fake_provider: FakeProviders) -> AsyncIterator[FakeProvider]:
    """A provider that answers no call until the test ends (then grades each candidate 1),
    so that the runs on it stay running."""
    release = asyncio.Event()

    async def hold(prompt: str, call_no: int) -> web.Response:
        await release.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    provider = await fake_provider(hold)
    yield provider
    release.set()


@pytest.fixture
async def stepped_provider(
    fake_provider: FakeProviders,
) -> AsyncIterator[tuple[FakeProvider, asyncio.Semaphore]]:
    """A provider that answers one call (grading each candidate 2) per release of the
    semaphore, so that a test moves a run on one batch at a time; all of them at the end."""
    allowed = asyncio.Semaphore(0)
    done = asyncio.Event()

    async def respond(prompt: str, call_no: int) -> web.Response:
        if not done.is_set():
            waiters = {asyncio.ensure_future(allowed.acquire()), asyncio.ensure_future(done.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 2)))

    provider = await fake_provider(respond)
    yield provider, allowed
    done.set()


@pytest.fixture
async def panel_members(local_servers: LocalServers) -> list[FakeProvider]:
    """Three providers that grade as tests/support/panels.py's documents say: member 0, 1, 2."""
    return [await local_servers.start(member(i)) for i in range(3)]


@pytest.fixture
async def page(service: Service) -> AsyncIterator[aiohttp.ClientSession]:
    """A client logged in to the UI of ``service`` (the session cookie on every request)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as login:
        cookie = await cookie_header(login, service.base_url)
    async with aiohttp.ClientSession(
        base_url=service.base_url, headers={"Cookie": cookie}
    ) as session:
        yield session
