"""The provider simulator's HTTP server (aiohttp).

Routes:

* ``POST /v1/chat/completions`` — OpenAI shape; clients use ``base_url`` ``http://host:port/v1``;
* ``POST /v1/messages`` — Anthropic shape; clients use ``base_url`` ``http://host:port``;
* ``GET /stats`` (:class:`~releval_judge.sim.stats.StatsReport`), ``POST /stats/reset``;
* ``GET /healthz``.

A provider call goes through, in order: credentials (401), body (400), model (404), rate
limits (429 with ``Retry-After``), then the call's latency, then at most one injected fault
(400, 503, a stall far longer than any client timeout, a JSON answer, an answer missing the
last candidate) or the graded answer. It shares CPU with the service under load tests, so it
logs nothing per request and keeps the work per call small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web

from releval_judge.sim.config import SimConfig
from releval_judge.sim.dialects import AnthropicDialect, Dialect, OpenAIDialect, SimError
from releval_judge.sim.grader import (
    estimate_tokens,
    format_blocks,
    format_json,
    judge,
    parse_prompt,
)
from releval_judge.sim.latency import draw_latency_s
from releval_judge.sim.ratelimit import RateLimited, SlidingWindowLimiter
from releval_judge.sim.stats import SimStats

Sleep = Callable[[float], Awaitable[None]]
Fault = Literal["400", "503", "timeout", "malformed", "fewer"]

_OPENAI = OpenAIDialect()
_ANTHROPIC = AnthropicDialect()
_CONTEXT_LIMIT = 8192


class Simulator:
    """The state behind one app: config, random source, rate window, stats."""

    def __init__(self, config: SimConfig, sleep: Sleep) -> None:
        self.config = config
        self.stats = SimStats()
        self._sleep = sleep
        self._rng = random.Random(config.seed)
        self._limiter = SlidingWindowLimiter(config.requests_per_minute, config.tokens_per_minute)
        self._call_ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._faults: list[tuple[float, Fault]] = [
            (config.error_rate_400, "400"),
            (config.error_rate_503, "503"),
            (config.error_rate_timeout, "timeout"),
            (config.error_rate_malformed, "malformed"),
            (config.error_rate_fewer, "fewer"),
        ]

    async def openai(self, request: web.Request) -> web.Response:
        return await self._call(request, _OPENAI)

    async def anthropic(self, request: web.Request) -> web.Response:
        return await self._call(request, _ANTHROPIC)

    async def stats_report(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.stats.report().model_dump_json(), content_type="application/json"
        )

    async def stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return await self.stats_report(request)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def on_shutdown(self, app: web.Application) -> None:
        # Stalled calls would otherwise hold the shutdown for the whole grace period.
        self._closing.set()

    async def _call(self, request: web.Request, dialect: Dialect) -> web.Response:
        self.stats.call_started(time.time())
        try:
            try:
                response = await self._answer(request, dialect)
            except SimError as error:
                response = web.json_response(
                    dialect.error_body(error), status=error.status, headers=error.headers
                )
            self.stats.responded(response.status)
            return response
        finally:
            self.stats.call_ended()

    async def _answer(self, request: web.Request, dialect: Dialect) -> web.Response:
        config = self.config
        dialect.check_auth(request.headers, config.api_key)
        call = dialect.parse(await request.read(), request.headers)
        if config.model_missing(call.model):
            raise _model_not_found(call.model)

        judgments = judge(parse_prompt(call.prompt))
        input_tokens = estimate_tokens(call.prompt)
        full_answer = format_blocks(judgments)
        limited = self._limiter.admit(input_tokens + estimate_tokens(full_answer), time.monotonic())
        if limited is not None:
            raise _rate_limited(call.model, limited)

        fault = self._draw_fault()
        delay = draw_latency_s(config, self._rng)
        if fault == "timeout":
            await self._stall(config.timeout_delay_s)
        elif delay > 0:
            await self._sleep(delay)

        if fault == "400":
            raise _context_too_long(input_tokens)
        if fault == "503":
            raise SimError(503, "overloaded", "The server is overloaded or not ready yet.")
        if fault == "malformed":
            text = format_json(judgments)
        elif fault == "fewer":
            text = format_blocks(judgments[:-1])
        else:
            text = full_answer
        output_tokens = estimate_tokens(text)
        self.stats.billed(input_tokens, output_tokens)
        body = dialect.answer_body(
            next(self._call_ids), call.model, text, input_tokens, output_tokens
        )
        return web.json_response(body)

    def _draw_fault(self) -> Fault | None:
        if not any(rate for rate, _ in self._faults):
            return None
        draw = self._rng.random()
        for rate, fault in self._faults:
            if draw < rate:
                return fault
            draw -= rate
        return None

    async def _stall(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _model_not_found(model: str) -> SimError:
    return SimError(
        404,
        "not_found",
        f"model not found: the model `{model}` does not exist or you do not have access to it",
        code="model_not_found",
    )


def _rate_limited(model: str, limited: RateLimited) -> SimError:
    unit = "RPM" if limited.kind == "requests" else "TPM"
    return SimError(
        429,
        "rate_limit",
        f"Rate limit reached for {model} on {limited.kind} per min ({unit}): "
        f"Limit {limited.limit}, Used {limited.used}, Requested {limited.requested}. "
        f"Please try again in {limited.retry_after_s}s.",
        code="rate_limit_exceeded",
        detail_type=limited.kind,
        headers={"Retry-After": str(limited.retry_after_s)},
    )


def _context_too_long(input_tokens: int) -> SimError:
    return SimError(
        400,
        "invalid_request",
        f"This model's maximum context length is {_CONTEXT_LIMIT} tokens. However, your "
        f"messages resulted in {max(input_tokens, _CONTEXT_LIMIT + 1)} tokens. Please reduce "
        "the length of the messages. (simulated error)",
        code="context_length_exceeded",
    )


SIMULATOR_KEY = web.AppKey("simulator", Simulator)


def build_app(config: SimConfig, *, sleep: Sleep = asyncio.sleep) -> web.Application:
    """The simulator as an aiohttp app. ``sleep`` lets tests observe the latency applied."""
    simulator = Simulator(config, sleep)
    app = web.Application()
    app[SIMULATOR_KEY] = simulator
    app.router.add_post("/v1/chat/completions", simulator.openai)
    app.router.add_post("/v1/messages", simulator.anthropic)
    app.router.add_get("/stats", simulator.stats_report)
    app.router.add_post("/stats/reset", simulator.stats_reset)
    app.router.add_get("/healthz", simulator.healthz)
    app.on_shutdown.append(simulator.on_shutdown)
    return app


async def run_sim(
    config: SimConfig, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start the simulator; return its runner (``await runner.cleanup()`` to stop) and the
    bound port (an ephemeral one for ``port=0``)."""
    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
    except BaseException:
        await runner.cleanup()
        raise
    return runner, bound


def serve_forever(config: SimConfig, host: str = "127.0.0.1", port: int = 8090) -> None:
    """Serve until interrupted (SIGINT / SIGTERM): ``releval-judge sim --port P``."""
    web.run_app(build_app(config), host=host, port=port, access_log=None, shutdown_timeout=5.0)
