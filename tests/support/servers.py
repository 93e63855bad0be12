"""Local servers a test starts on loopback (fake providers, hostile servers, proxies, the
simulator), each stopped when the test ends, whether it passed or not."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, TypeVar

from aiohttp import web

from releval_judge.sim import SimConfig, run_sim


async def serve_on_loopback(
    app: web.Application, *, shutdown_timeout: float = 0.5
) -> tuple[web.AppRunner, int]:
    """Serve `app` on an ephemeral loopback port; the runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


class Startable(Protocol):
    async def start(self) -> Any: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


class LocalServers:
    """The servers one test started, stopped in the reverse order of their start by
    ``close()``: the ``local_servers`` fixture calls it after the test, ``async with``
    at the end of its block (for a helper whose servers live only while it runs)."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()

    async def start(self, server: S) -> S:
        """Start ``server`` (its ``start()``) and stop it (its ``stop()``) at the end."""
        await server.start()
        self._stack.push_async_callback(server.stop)
        return server

    async def serve(self, app: web.Application, *, shutdown_timeout: float = 0.5) -> int:
        """Serve an aiohttp app on a loopback port, cleaned up at the end; its port."""
        runner, port = await serve_on_loopback(app, shutdown_timeout=shutdown_timeout)
        self._stack.push_async_callback(runner.cleanup)
        return port

    async def sim(self, config: SimConfig, *, port: int = 0) -> int:
        """The provider simulator (releval_judge.sim) on a loopback port; that port."""
        runner, port = await run_sim(config, port=port)
        self._stack.push_async_callback(runner.cleanup)
        return port

    async def close(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> LocalServers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
