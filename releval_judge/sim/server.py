"""The provider simulator's HTTP server (aiohttp).

Routes (docs/simulator.md has each one's contract):

* ``POST /v1/chat/completions`` — OpenAI shape; clients use ``base_url`` ``http://host:port/v1``;
* ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` and
  ``POST /openai/v1/chat/completions`` — Azure OpenAI, ``api-key`` header;
* ``POST /v1/messages`` — Anthropic shape; clients use ``base_url`` ``http://host:port``;
* the OpenAI Files and Batch APIs under ``/v1`` and ``/openai/v1``
  (:mod:`~releval_judge.sim.openai_batches`), Anthropic Message Batches under
  ``/v1/messages/batches`` (:mod:`~releval_judge.sim.anthropic_batches`);
* ``GET /stats`` (:class:`~releval_judge.sim.stats.StatsReport`), ``POST /stats/reset``,
  ``GET /sim/batches``;
* ``GET /healthz``.

A provider call goes through, in order: credentials (401), body (400), model (404), the
parameter rules of reasoning models (400, OpenAI routes), rate limits (429 with
``Retry-After``), then the call's latency, then at most one injected fault (400, 503, a
stall far longer than any client timeout, a JSON answer, an answer missing the last
candidate) or the graded answer (with the configured position bias and wavering), its usage
counting cached and reasoning tokens. Batch requests take the same path without latency,
rate limits, 503s and stalls. It shares CPU with the service under load tests, so it logs
nothing per request and keeps the work per call small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web

from releval_judge.sim.anthropic_batches import ANTHROPIC_STATUS, AnthropicBatchAPI
from releval_judge.sim.batches import BatchRequest, BatchStore, Provider, RequestResult
from releval_judge.sim.behaviour import applies, misjudge
from releval_judge.sim.caching import MIN_CACHED_TOKENS, PromptCache
from releval_judge.sim.config import SimConfig
from releval_judge.sim.dialects import (
    AnthropicDialect,
    CallRequest,
    Dialect,
    OpenAIDialect,
    SimError,
    Usage,
)
from releval_judge.sim.grader import (
    Judgment,
    estimate_tokens,
    format_blocks,
    format_json,
    judge,
    parse_prompt,
)
from releval_judge.sim.latency import draw_latency_s
from releval_judge.sim.openai_batches import FileStore, OpenAIBatchAPI
from releval_judge.sim.ratelimit import RateLimited, SlidingWindowLimiter
from releval_judge.sim.reasoning import check_parameters, reasoning_tokens
from releval_judge.sim.stats import SimStats

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Fault = Literal["400", "503", "timeout", "malformed", "fewer"]

_OPENAI = OpenAIDialect()
_AZURE = OpenAIDialect(auth="azure")
_AZURE_V1 = OpenAIDialect(auth="azure-v1")
_ANTHROPIC = AnthropicDialect()
_CONTEXT_LIMIT = 8192
# Batch requests carry no headers of their own; the batch's request was checked for them.
_BATCH_HEADERS = {"anthropic-version": "2023-06-01"}
# Large enough for a 200 MB batch input file (OpenAI's limit) or a 256 MB message batch.
_MAX_BODY_BYTES = 260 * 1024 * 1024


class Simulator:
    """The state behind one app: config, random source, rate window, prompt cache,
    batches, stats."""

    def __init__(self, config: SimConfig, sleep: Sleep, clock: Clock) -> None:
        self.config = config
        self.stats = SimStats()
        self.clock = clock
        self._sleep = sleep
        self._rng = random.Random(config.seed)
        # Wavering draws from its own source, so that turning it on does not change which
        # calls get faults or latencies.
        self._waver_rng = random.Random(None if config.seed is None else f"{config.seed}:waver")
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
        self.cache = PromptCache(config.prompt_cache_entries)
        self.batches = BatchStore(config, self.run_batch_request)
        self.files = FileStore()

    async def openai(self, request: web.Request) -> web.Response:
        return await self._call(request, _OPENAI)

    async def azure_deployment(self, request: web.Request) -> web.Response:
        if not request.query.get("api-version"):
            # Real Azure answers 404 "Resource not found"; a 400 names what is missing.
            error = SimError(
                400,
                "invalid_request",
                "Missing required query parameter: api-version",
                code="missing_api_version",
                param="api-version",
            )
            return web.json_response(_AZURE.error_body(error), status=400)
        return await self._call(request, _AZURE, model=request.match_info["deployment"])

    async def azure_v1(self, request: web.Request) -> web.Response:
        return await self._call(request, _AZURE_V1)

    async def anthropic(self, request: web.Request) -> web.Response:
        return await self._call(request, _ANTHROPIC)

    async def stats_report(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.stats.report().model_dump_json(), content_type="application/json"
        )

    async def stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return await self.stats_report(request)

    async def batch_listing(self, request: web.Request) -> web.Response:
        """``GET /sim/batches``: every batch of both APIs, newest first, with its status in
        its provider's words."""
        return web.json_response({"data": self.batch_summaries()})

    def batch_summaries(self) -> list[dict[str, Any]]:
        summaries = []
        for batch in self.batches.newest_first(None, self.clock()):
            status: str = batch.state.status
            if batch.provider == "anthropic":
                status = "ended" if batch.ended else ANTHROPIC_STATUS[status]
            summaries.append(
                {
                    "id": batch.id,
                    "provider": batch.provider,
                    "status": status,
                    "total": len(batch.requests),
                    "ran": len(batch.results),
                    "succeeded": sum(1 for r in batch.results if r.succeeded),
                    "cancel_requested": batch.cancelled_at is not None,
                }
            )
        return summaries

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def on_shutdown(self, app: web.Application) -> None:
        # Stalled calls would otherwise hold the shutdown for the whole grace period.
        self._closing.set()

    def run_batch_request(
        self, provider: Provider, index: int, request: BatchRequest
    ) -> RequestResult:
        """Answer request ``index`` (0-based, input order) of a batch as the live route would,
        without latency or rate limits; 503 and timeout faults do not apply (the provider
        retries those itself), and every ``batch_request_error_every``-th request fails."""
        dialect = _OPENAI if provider == "openai" else _ANTHROPIC
        every = self.config.batch_request_error_every
        try:
            if every is not None and (index + 1) % every == 0:
                raise SimError(
                    400,
                    "invalid_request",
                    "simulated provider error for this request",
                    code="simulated_error",
                )
            call = dialect.parse(request.body, _BATCH_HEADERS)
            self._check(call, dialect)
            judgments = self._grade(call)
            fault = self._draw_fault()
            if fault == "400":
                raise _context_too_long(estimate_tokens(call.prompt))
            return RequestResult(200, self._complete(call, dialect, judgments, fault))
        except SimError as error:
            return RequestResult(error.status, dialect.error_body(error))

    async def _call(
        self, request: web.Request, dialect: Dialect, model: str | None = None
    ) -> web.Response:
        self.stats.call_started(time.time())
        try:
            try:
                response = await self._answer(request, dialect, model)
            except SimError as error:
                response = web.json_response(
                    dialect.error_body(error), status=error.status, headers=error.headers
                )
            self.stats.responded(response.status)
            return response
        finally:
            self.stats.call_ended()

    async def _answer(
        self, request: web.Request, dialect: Dialect, model: str | None
    ) -> web.Response:
        config = self.config
        dialect.check_auth(request.headers, config.api_key)
        call = dialect.parse(await request.read(), request.headers, model)
        self._check(call, dialect)

        judgments = self._grade(call)
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
        return web.json_response(self._complete(call, dialect, judgments, fault))

    def _grade(self, call: CallRequest) -> list[Judgment]:
        """The call's judgments: the lexical grades, then the configured behaviours
        (position bias, wavering) when they apply to the call's model."""
        prompt = parse_prompt(call.prompt)
        judgments = judge(prompt)
        if applies(self.config, call.model):
            return misjudge(judgments, prompt, self.config, self._waver_rng)
        return judgments

    def _check(self, call: CallRequest, dialect: Dialect) -> None:
        """The model must exist (404), then its parameter rules hold (400)."""
        if self.config.model_missing(call.model):
            raise _model_not_found(call.model, dialect)
        if dialect.provider == "openai":
            check_parameters(call, self.config)

    def _complete(
        self, call: CallRequest, dialect: Dialect, judgments: list[Judgment], fault: Fault | None
    ) -> dict[str, Any]:
        """The answer body of an accepted call (a 'malformed' or 'fewer' fault shapes it);
        the prompt cache and the stats learn of it."""
        if fault == "malformed":
            text = format_json(judgments)
        elif fault == "fewer":
            text = format_blocks(judgments[:-1])
        else:
            text = format_blocks(judgments)
        usage = self._usage(call, dialect, estimate_tokens(text))
        self.stats.billed(usage)
        return dialect.answer_body(next(self._call_ids), call.model, text, usage)

    def _usage(self, call: CallRequest, dialect: Dialect, output_tokens: int) -> Usage:
        input_tokens = estimate_tokens(call.prompt)
        if dialect.provider == "anthropic":
            cached = (
                self.cache.explicit(call.model, call.cache_prefix)
                if call.cache_prefix is not None
                else None
            )
            return Usage(
                input_tokens,
                output_tokens,
                cache_creation_tokens=cached.tokens if cached and cached.kind == "creation" else 0,
                cache_read_tokens=cached.tokens if cached and cached.kind == "read" else 0,
            )
        automatic = (
            self.cache.automatic(call.model, call.prompt)
            if input_tokens >= MIN_CACHED_TOKENS
            else 0
        )
        return Usage(
            input_tokens,
            output_tokens,
            reasoning_tokens=reasoning_tokens(call, self.config, output_tokens),
            cached_tokens=automatic,
        )

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


def _model_not_found(model: str, dialect: Dialect) -> SimError:
    if isinstance(dialect, OpenAIDialect) and dialect.auth == "azure":
        return SimError(
            404,
            "not_found",
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
            code="DeploymentNotFound",
        )
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


def build_app(
    config: SimConfig, *, sleep: Sleep = asyncio.sleep, clock: Clock = time.time
) -> web.Application:
    """The simulator as an aiohttp app. ``sleep`` lets tests observe the latency applied,
    ``clock`` (epoch seconds) drive the batches' timeline."""
    simulator = Simulator(config, sleep, clock)
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    app[SIMULATOR_KEY] = simulator
    router = app.router
    router.add_post("/v1/chat/completions", simulator.openai)
    router.add_post("/openai/deployments/{deployment}/chat/completions", simulator.azure_deployment)
    router.add_post("/openai/v1/chat/completions", simulator.azure_v1)
    router.add_post("/v1/messages", simulator.anthropic)
    for dialect, prefix, endpoints in (
        (_OPENAI, "/v1", ("/v1/chat/completions",)),
        (_AZURE_V1, "/openai/v1", ("/v1/chat/completions", "/chat/completions")),
    ):
        OpenAIBatchAPI(
            config, simulator.batches, simulator.files, simulator.stats, clock, dialect, endpoints
        ).add_routes(router, prefix)
    AnthropicBatchAPI(config, simulator.batches, simulator.stats, clock, _ANTHROPIC).add_routes(
        router
    )
    router.add_get("/stats", simulator.stats_report)
    router.add_post("/stats/reset", simulator.stats_reset)
    router.add_get("/sim/batches", simulator.batch_listing)
    router.add_get("/healthz", simulator.healthz)
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
