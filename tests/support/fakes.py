"""A scriptable OpenAI-compatible provider served by aiohttp on loopback, for tests about
the wire: it records every call (arrival time, prompt) and answers as the test says."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from tests.support.servers import serve_on_loopback

DOCUMENT = re.compile(r'<document id="(\d+)">')


@dataclass
class Call:
    at: float
    prompt: str
    headers: dict[str, str]


def document_ids(prompt: str) -> list[str]:
    return DOCUMENT.findall(prompt)


def blocks(grades: dict[str, Any], reasoning: str = "because") -> str:
    return "\n".join(
        f'<candidate id="{cid}">\n<grade>{grade}</grade>\n<reasoning>{reasoning} {cid}'
        f"</reasoning>\n</candidate>"
        for cid, grade in grades.items()
    )


def completion(text: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> web.Response:
    return web.json_response(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "error", "code": None}},
        status=status,
        headers=headers,
    )


Responder = Callable[[str, int], Awaitable[web.Response]]


async def grade_all_two(prompt: str, call_no: int) -> web.Response:
    return completion(blocks({cid: 2 for cid in document_ids(prompt)}))


@dataclass
class FakeProvider:
    respond: Responder = grade_all_two
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][0]["content"]
        self.calls.append(Call(time.monotonic(), prompt, dict(request.headers)))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.respond(prompt, len(self.calls))
        finally:
            self.in_flight -= 1

    async def start(self) -> FakeProvider:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self.runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class FakeProviders(Protocol):
    """The ``fake_provider`` fixture: starts a FakeProvider, stopped after the test."""

    async def __call__(self, respond: Responder = grade_all_two) -> FakeProvider: ...
