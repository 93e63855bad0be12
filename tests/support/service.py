"""The service served by uvicorn in the test's event loop on a loopback port, talked to over
real HTTP with a token; the settings every test service shares."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette

from releval_judge.app import create_app
from releval_judge.config import Settings
from releval_judge.engine.judging import ProviderFactory
from releval_judge.providers import make_provider
from releval_judge.serving import listening_socket, server_config
from tests.support.waiting import wait_for

TOKEN = "test-token"
# Every service of a test session shares one database, so one key (see secrets_check).
SECRET_KEY = "test-secret-key"
REPO = Path(__file__).resolve().parents[2]


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
    """Starts services on one database; the ``services`` fixture stops what it started."""

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

    async def stop(self) -> None:
        """Stop every service started here that is still running."""
        for service in self.started:
            if not service.task.done():
                await service.stop()


async def wait_until_idle(service: Service) -> None:
    """Until the service has no judging-run task left (in-flight calls written or dropped)."""
    app = service.server.config.app
    assert isinstance(app, Starlette)
    runner = app.state.services.runner

    async def idle() -> bool:
        return bool(runner.active_count() == 0)

    await wait_for(idle)
