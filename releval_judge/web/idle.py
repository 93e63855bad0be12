"""Cutting clients that stall: RELEVAL_CLIENT_IDLE_S (docs/security.md, "Slow clients and
the gateway").

Two waits of a request may last only ``idle_s`` each:

- receiving the request body: a client that sends none of it for that long gets 408
  ``client_timeout`` (when the response has not started) and the connection is closed;
- sending the response: a send that cannot go out for that long (the client reads
  nothing, so its buffers and ours are full) stops the response, which is never
  completed (a client cannot take a cut export for a whole one); the socket is then
  dropped by the kernel (``serving.listening_socket``).

Either way the handler is stopped where it waits, so whatever it held is given back, and
a ``client_cut`` warning is logged with the reason (never the body). Waits that are not
the client's (a slow query, an event stream between events) are not limited here. A client
that goes away mid-request is logged as ``client_disconnected`` (info).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, TypeVar

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from releval_judge.serving import kernel_cut_s
from releval_judge.web.errors import error_response

log = structlog.get_logger(__name__)

Stage = Literal["request_body", "response"]
T = TypeVar("T")

SETTING = "RELEVAL_CLIENT_IDLE_S"


class ClientIdle(Exception):
    """The client sent or read nothing for ``idle_s`` (raised out of receive or send)."""

    def __init__(self, stage: Stage, idle_s: float) -> None:
        waited = "sent none of its request body" if stage == "request_body" else "read nothing"
        super().__init__(f"the client {waited} for {idle_s:g} s ({SETTING})")
        self.stage: Stage = stage


@dataclass
class _Exchange:
    """How far one request has gone."""

    body_done: bool = False
    response_started: bool = False
    response_done: bool = False


class ClientIdleMiddleware:
    """Wrap ``receive`` and ``send`` with the client's time limit (see the module)."""

    def __init__(self, app: ASGIApp, idle_s: float) -> None:
        self.app = app
        self.idle_s = idle_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _Exchange()

        async def receive_within() -> Message:
            if state.body_done:
                # Only http.disconnect is left to wait for, which takes as long as it takes.
                return await receive()
            message = await self._within(receive(), "request_body")
            if message["type"] != "http.request" or not message.get("more_body", False):
                state.body_done = True
            return message

        async def send_within(message: Message) -> None:
            await self._within(send(message), "response")
            if message["type"] == "http.response.start":
                state.response_started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state.response_done = True

        client = scope.get("client")
        fields = {
            "method": scope["method"],
            "path": scope["path"],
            "client": client[0] if client else None,
        }
        try:
            await self.app(scope, receive_within, send_within)
        except ClientDisconnect:
            log.info("client_disconnected", during="request_body", **fields)
        except ClientIdle as cut:
            log.warning("client_cut", reason=cut.stage, idle_s=self.idle_s, **fields)
            if not state.response_started and cut.stage == "request_body":
                await self._send_timeout(scope, send, str(cut))
            elif state.response_started:
                await self._wait_for_disconnect(receive)
        else:
            if state.response_started and not state.response_done:
                # A streamed response stopped because the connection went: the client
                # hung up, or the kernel dropped a client that read nothing.
                log.info("client_disconnected", during="response", **fields)

    async def _within(self, step: Awaitable[T], stage: Stage) -> T:
        try:
            async with asyncio.timeout(self.idle_s) as limit:
                return await step
        except TimeoutError:
            if not limit.expired():
                raise
            raise ClientIdle(stage, self.idle_s) from None

    async def _send_timeout(self, scope: Scope, send: Send, message: str) -> None:
        response = error_response(
            408,
            "client_timeout",
            message + "; send the whole body without pausing that long",
            details={"idle_s": self.idle_s, "setting": SETTING},
            headers={"Connection": "close"},
        )

        async def send_or_give_up(message: Message) -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle_s):
                    await send(message)

        await response(scope, _no_receive, send_or_give_up)

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        """Give the kernel the time to drop the connection: uvicorn then sees it gone,
        instead of logging a response left incomplete and waiting to flush it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(kernel_cut_s(self.idle_s) + 1):
                while (await receive())["type"] != "http.disconnect":
                    pass


async def _no_receive() -> Message:
    raise AssertionError("a response does not read the request")
