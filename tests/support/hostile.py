"""Hostile providers for the security tests, each a real server on a loopback address:
a catcher on 127.0.0.2 (the internal network), a provider answering hundreds of MB, and a
proxy in front of the simulator that rewrites what the simulator's batch API answers."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.support.servers import serve_on_loopback

MB = 1024 * 1024


class Catcher:
    """Counts every TCP connection made to 127.0.0.2:port, and answers each with a 200
    (so that a connection, were one made, would look like a success)."""

    def __init__(self, port: int = 0) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = port  # 0: any free port

    @property
    def url(self) -> str:
        return f"http://127.0.0.2:{self.port}"

    async def start(self) -> Catcher:
        self.server = await asyncio.start_server(self._caught, "127.0.0.2", self.port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _caught(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        body = b'{"caught": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


class Flood:
    """An OpenAI-compatible chat completions endpoint whose every answer is `total_bytes`
    of JSON, streamed 1 MB at a time (never built in memory); chunked, or announced in
    Content-Length. `sent` counts the bytes written before the client hung up."""

    def __init__(self, total_bytes: int, *, announce: bool = False) -> None:
        self.total_bytes = total_bytes
        self.announce = announce
        self.requests = 0
        self.sent = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> Flood:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._answer)
        self.runner, self.port = await serve_on_loopback(app)
        return self

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests += 1
        head = b'{"choices":[{"message":{"role":"assistant","content":"'
        tail = b'"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}'
        response = web.StreamResponse(headers={"content-type": "application/json"})
        if self.announce:
            response.content_length = self.total_bytes
        await response.prepare(request)
        filler = b"x" * MB
        left = self.total_bytes - len(head) - len(tail)
        try:
            await self._write(response, head)
            while left > 0:
                await self._write(response, filler[: min(left, MB)])
                left -= MB
            await self._write(response, tail)
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading and hung up
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        await response.write(data)
        self.sent += len(data)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class Rewriter:
    """Forwards every request to `upstream` (the simulator) and rewrites its answers:
    `results_url` points at `results_origin` (by default this proxy, which then serves
    the results), and with `pad_first_result` the first line of a results file carries
    that many bytes more (streamed, inside its JSON object, after its custom_id)."""

    def __init__(
        self, upstream: str, *, results_origin: str | None = None, pad_first_result: int = 0
    ) -> None:
        self.upstream = upstream
        self.results_origin = results_origin
        self.pad_first_result = pad_first_result
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Rewriter:
        self._client = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner, self.port = await serve_on_loopback(app)
        return self

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self._client.request(
            request.method,
            self.upstream + request.path_qs,
            data=await request.read(),
            headers=headers,
        ) as upstream:
            if request.path.endswith("/results") and self.pad_first_result:
                return await self._padded(request, upstream)
            body = await upstream.read()
            if b'"results_url"' in body:
                origin = self.results_origin or self.url
                body = body.replace(self.upstream.encode(), origin.encode())
            return web.Response(
                body=body, status=upstream.status, content_type=upstream.content_type
            )

    async def _padded(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/x-jsonl"})
        await response.prepare(request)
        first, *rest = (await upstream.read()).splitlines()
        assert first.endswith(b"}")
        try:
            await response.write(first[:-1] + b',"padding":"')
            filler = b"x" * MB
            for start in range(0, self.pad_first_result, MB):
                await response.write(filler[: min(MB, self.pad_first_result - start)])
            await response.write(b'"}\n' + b"\n".join(rest) + b"\n")
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
