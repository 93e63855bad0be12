"""A small asynchronous client of the REST API (aiohttp), for the CLI, the demo and bench.

Answers come back as the service's own pydantic models; any error answer raises
:class:`ApiError` with the contract's ``code`` and ``message``, and an unreachable service
raises :class:`ServiceUnreachable`, both with a message a user can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import BaseModel

from releval_judge.metrics.models import RetrievalMetrics, SystemComparison
from releval_judge.models import (
    ACTIVE_JUDGING_STATUSES,
    AiJudge,
    CandidateFailure,
    EvaluationRun,
    ImportResult,
    JudgingRun,
    Judgment,
    Page,
)
from releval_judge.models.audits import ACTIVE_AUDIT_STATUSES, Audit

M = TypeVar("M", bound=BaseModel)

API_PREFIX = "/api/v1"


class ApiError(Exception):
    """The service answered with an error: ``{"error": {"code", "message", "details"}}``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class ServiceUnreachable(Exception):
    """No answer from the service at all (wrong URL, not started, network)."""


class ApiClient:
    """One session to one service; use as ``async with ApiClient(url, token) as api``.

    ``base_url`` is where the service is served, e.g. ``http://127.0.0.1:8080`` (with the
    gateway prefix, if any); the ``/api/v1`` prefix is added here.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout_s: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._owns_session = session is None
        self._session = session

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    # --- plumbing ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api: bool = True,
    ) -> Any:
        """Send one request and return its decoded JSON body (None when empty)."""
        url = self.base_url + (API_PREFIX if api else "") + path
        async with self._exchange(
            method,
            url,
            json=json,
            data=data,
            params=params,
            headers={**self._headers, **(headers or {})},
        ) as resp:
            return await _payload(resp)

    @contextlib.asynccontextmanager
    async def _exchange(
        self, method: str, url: str, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request's response; a service that cannot be reached or does not answer is
        ServiceUnreachable, naming the URL and what to check."""
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                yield resp
        except aiohttp.ClientConnectionError as exc:
            raise ServiceUnreachable(
                f"cannot reach the service at {self.base_url}: {exc} "
                "(is it running? check RELEVAL_URL)"
            ) from exc
        except TimeoutError as exc:
            raise ServiceUnreachable(f"the service at {self.base_url} did not answer") from exc

    async def _get_if_changed(self, path: str, etag: str | None) -> tuple[Any, str | None]:
        """GET ``path`` with ``If-None-Match: etag``: (its JSON body, its ETag), or (None,
        etag) when the service answers 304 Not Modified (nothing changed: README,
        "Polling")."""
        headers = dict(self._headers)
        if etag is not None:
            headers["If-None-Match"] = etag
        async with self._exchange(
            "GET", self.base_url + API_PREFIX + path, headers=headers
        ) as resp:
            if resp.status == 304:
                return None, etag
            return await _payload(resp), resp.headers.get("ETag")

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(await self.request(method, path, **kwargs))

    async def _page(
        self, model: type[M], path: str, *, limit: int, cursor: str | None, **params: str
    ) -> Page[M]:
        query = {"limit": str(limit), **params}
        if cursor is not None:
            query["cursor"] = cursor
        return Page[model].model_validate(  # type: ignore[valid-type]
            await self.request("GET", path, params=query)
        )

    async def _all(
        self, model: type[M], path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[M]:
        cursor: str | None = None
        while True:
            page = await self._page(model, path, limit=1000, cursor=cursor, **(params or {}))
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # --- health ------------------------------------------------------------------------

    async def ready(self) -> bool:
        """True when ``GET /readyz`` answers 200 (the database is reachable)."""
        try:
            async with self.session.get(self.base_url + "/readyz") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def wait_ready(self, timeout_s: float = 60.0, *, interval_s: float = 0.1) -> None:
        """Poll ``/readyz`` until it answers 200; :class:`ServiceUnreachable` after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not await self.ready():
            if time.monotonic() > deadline:
                raise ServiceUnreachable(
                    f"the service at {self.base_url} was not ready within {timeout_s:g} s"
                )
            await asyncio.sleep(interval_s)

    # --- evaluation runs ---------------------------------------------------------------

    async def create_evaluation_run(self, body: Mapping[str, Any]) -> EvaluationRun:
        return await self._model(EvaluationRun, "POST", "/evaluations/runs", json=body)

    async def get_evaluation_run(self, evaluation_run_id: str) -> EvaluationRun:
        return await self._model(EvaluationRun, "GET", f"/evaluations/runs/{evaluation_run_id}")

    async def import_candidates(
        self, evaluation_run_id: str, ndjson: bytes | AsyncIterable[bytes]
    ) -> ImportResult:
        """Stream NDJSON candidate lines (``{query_id, query, doc_id, rank, …}``)."""
        return await self._model(
            ImportResult,
            "POST",
            f"/evaluations/runs/{evaluation_run_id}/candidates",
            data=ndjson,
            headers={"Content-Type": "application/x-ndjson"},
        )

    def judgments(self, evaluation_run_id: str, **filters: str) -> AsyncIterator[Judgment]:
        """Every judgment of the run matching ``filters`` (``source=ai``, …), page by page."""
        return self._all(Judgment, f"/evaluations/runs/{evaluation_run_id}/judgments", filters)

    async def metrics(self, evaluation_run_id: str, **params: str) -> RetrievalMetrics:
        """``GET /evaluations/runs/{id}/metrics`` with ``measures=``, ``source=``, …"""
        return await self._model(
            RetrievalMetrics,
            "GET",
            f"/evaluations/runs/{evaluation_run_id}/metrics",
            params=params,
        )

    async def compare(self, evaluation_run_ids: Sequence[str], **params: str) -> SystemComparison:
        """``GET /evaluations/compare`` of the runs (the first is the baseline) with
        ``measures=``, ``source=``, …"""
        query = {"runs": ",".join(evaluation_run_ids), **params}
        return await self._model(SystemComparison, "GET", "/evaluations/compare", params=query)

    # --- AI judges ---------------------------------------------------------------------

    async def create_judge(self, body: Mapping[str, Any]) -> AiJudge:
        return await self._model(AiJudge, "POST", "/ai-judges", json=body)

    # --- AI judging runs ---------------------------------------------------------------

    async def start_judging_run(
        self,
        evaluation_run_id: str,
        judge_id: str,
        *,
        scope: str | None = None,
        max_cost: float | None = None,
        reuse: str | None = None,
    ) -> JudgingRun:
        body: dict[str, object] = {"ai_judge_id": judge_id}
        if scope is not None:
            body["scope"] = scope
        if reuse is not None:
            body["reuse"] = reuse
        if max_cost is not None:
            body["max_cost"] = max_cost
        return await self._model(
            JudgingRun, "POST", f"/evaluations/runs/{evaluation_run_id}/ai-judge", json=body
        )

    async def get_judging_run(self, judging_run_id: str) -> JudgingRun:
        return await self._model(JudgingRun, "GET", f"/ai-judging-runs/{judging_run_id}")

    async def cancel_judging_run(self, judging_run_id: str) -> JudgingRun:
        return await self._model(JudgingRun, "POST", f"/ai-judging-runs/{judging_run_id}/cancel")

    async def list_judging_runs(
        self, evaluation_run_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[JudgingRun]:
        return await self._page(
            JudgingRun,
            f"/evaluations/runs/{evaluation_run_id}/ai-judging-runs",
            limit=limit,
            cursor=cursor,
        )

    async def start_audit(
        self, judging_run_id: str, *, sample_size: int | None = None, seed: int | None = None
    ) -> Audit:
        body: dict[str, Any] = {}
        if sample_size is not None:
            body["sample_size"] = sample_size
        if seed is not None:
            body["seed"] = seed
        return await self._model(
            Audit, "POST", f"/ai-judging-runs/{judging_run_id}/audits", json=body
        )

    async def get_audit(self, audit_id: str) -> Audit:
        return await self._model(Audit, "GET", f"/audits/{audit_id}")

    async def wait_audit(
        self, audit_id: str, *, interval_s: float = 0.5, max_interval_s: float = 5.0
    ) -> Audit:
        """Poll the audit until it has ended (slowing down by half each time, up to
        ``max_interval_s``); its final state."""
        while True:
            audit = await self.get_audit(audit_id)
            if audit.status not in ACTIVE_AUDIT_STATUSES:
                return audit
            await asyncio.sleep(interval_s)
            interval_s = min(max_interval_s, interval_s * 1.5)

    def failures(self, judging_run_id: str) -> AsyncIterator[CandidateFailure]:
        return self._all(CandidateFailure, f"/ai-judging-runs/{judging_run_id}/failures")

    async def watch(
        self,
        judging_run_id: str,
        on_update: Callable[[JudgingRun], Awaitable[None] | None] | None = None,
        *,
        min_interval_s: float = 0.2,
        max_interval_s: float = 2.0,
        backoff: float = 1.5,
    ) -> JudgingRun:
        """Poll the run until it is no longer queued or running; return its final state.

        Polls start every ``min_interval_s`` and slow down by ``backoff`` up to
        ``max_interval_s`` while nothing changes; any progress brings them back to the
        minimum, so a bar stays lively while the run moves and cheap while it waits.
        ``on_update`` sees every state fetched, the final one included. Each poll sends the
        last answer's ETag, so an unchanged run is answered 304 with no body.
        """
        interval = min_interval_s
        last: tuple[str, int, int] | None = None
        etag: str | None = None
        run: JudgingRun | None = None
        while True:
            # A conditional GET: while nothing changed the service answers 304, which
            # costs it almost nothing (README, "Polling").
            payload, etag = await self._get_if_changed(f"/ai-judging-runs/{judging_run_id}", etag)
            if payload is not None:
                run = JudgingRun.model_validate(payload)
            assert run is not None, "the first GET has no ETag to send, so it is never a 304"
            if on_update is not None:
                result = on_update(run)
                if result is not None:
                    await result
            if run.status not in ACTIVE_JUDGING_STATUSES:
                return run
            state = (run.status, run.judged, run.failed)
            interval = min_interval_s if state != last else min(max_interval_s, interval * backoff)
            last = state
            await asyncio.sleep(interval)


async def _payload(resp: aiohttp.ClientResponse) -> Any:
    """The answer's decoded JSON body (None when empty); ApiError for a 4xx or 5xx."""
    body = await resp.read()
    payload = _decode(body)
    if resp.status >= 400:
        raise _api_error(resp.status, payload, body)
    return payload


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _api_error(status: int, payload: Any, body: bytes) -> ApiError:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        return ApiError(
            status,
            str(error.get("code", "error")),
            str(error.get("message", "")),
            error.get("details"),
        )
    text = body[:200].decode("utf-8", "replace").strip() or "(empty body)"
    return ApiError(status, "http_error", f"unexpected answer: {text}")
