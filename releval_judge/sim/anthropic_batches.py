"""Anthropic's Message Batches API.

Routes: ``POST /v1/messages/batches``, ``GET /v1/messages/batches`` (newest first,
``limit``, ``after_id``, ``before_id``), ``GET /v1/messages/batches/{id}``,
``POST /v1/messages/batches/{id}/cancel``, ``GET /v1/messages/batches/{id}/results``.

As on Anthropic, the batch's shape (custom ids, at most 100,000 requests) is checked when it
is created (400), each request's ``params`` only when it runs (an ``errored`` result). Once
the batch has ended, ``results_url`` points at its results: one JSON line per request in an
order of their own (shuffled, reproducibly for a batch id and ``seed``).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from releval_judge.sim.batches import Batch, BatchRequest, BatchStore, schedule
from releval_judge.sim.config import SimConfig
from releval_judge.sim.dialects import AnthropicDialect, Handler, SimError, authenticated
from releval_judge.sim.stats import SimStats

Clock = Callable[[], float]

MAX_REQUESTS = 100_000

#: processing_status of a batch that has not ended.
ANTHROPIC_STATUS = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "cancelling": "canceling",
}

CustomId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Request(BaseModel):
    custom_id: CustomId
    params: dict[str, Any]


class _CreateBatch(BaseModel):
    requests: list[_Request] = Field(min_length=1, max_length=MAX_REQUESTS)


class AnthropicBatchAPI:
    def __init__(
        self,
        config: SimConfig,
        store: BatchStore,
        stats: SimStats,
        clock: Clock,
        dialect: AnthropicDialect,
    ) -> None:
        self._config = config
        self._store = store
        self._stats = stats
        self._clock = clock
        self._dialect = dialect

    def add_routes(self, router: web.UrlDispatcher) -> None:
        base = "/v1/messages/batches"
        router.add_post(base, self._guarded(self.create_batch))
        router.add_get(base, self._guarded(self.list_batches))
        router.add_get(f"{base}/{{batch_id}}", self._guarded(self.get_batch))
        router.add_post(f"{base}/{{batch_id}}/cancel", self._guarded(self.cancel_batch))
        router.add_get(f"{base}/{{batch_id}}/results", self._guarded(self.results))

    def _guarded(self, handler: Handler) -> Handler:
        """Credentials first, as on the live route; errors in Anthropic's shape."""
        return authenticated(handler, self._dialect, self._config.api_key)

    async def create_batch(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("anthropic-version"):
            raise SimError(400, "invalid_request", "anthropic-version: header is required")
        try:
            body = _CreateBatch.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            message = f"{where}: {first['msg']}" if where else first["msg"]
            raise SimError(400, "invalid_request", message) from exc
        seen: set[str] = set()
        for item in body.requests:
            if item.custom_id in seen:
                raise SimError(
                    400,
                    "invalid_request",
                    f"requests: custom_id '{item.custom_id}' is used more than once; "
                    "each request needs a unique custom_id",
                )
            seen.add(item.custom_id)
        now = self._clock()
        batch = Batch(
            id=f"msgbatch_{uuid.uuid4().hex}",
            provider="anthropic",
            plan=schedule("anthropic", now, self._config),
            requests=[
                BatchRequest(item.custom_id, json.dumps(item.params).encode())
                for item in body.requests
            ],
        )
        self._stats.batch_created(len(batch.requests))
        return web.json_response(self._describe(self._store.add(batch, now), request))

    async def get_batch(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._describe(self._batch(request), request))

    async def list_batches(self, request: web.Request) -> web.StreamResponse:
        raw_limit = request.query.get("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise SimError(400, "invalid_request", "limit: expected an integer from 1 to 1000")
        limit = int(raw_limit)
        batches = list(self._store.newest_first("anthropic", self._clock()))
        ids = [b.id for b in batches]
        if (after := request.query.get("after_id")) is not None:
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        elif (before := request.query.get("before_id")) is not None:
            batches = batches[: ids.index(before)] if before in ids else []
            batches = batches[-limit:]
        page = batches[:limit]
        return web.json_response(
            {
                "data": [self._describe(b, request) for b in page],
                "has_more": len(batches) > limit,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            }
        )

    async def cancel_batch(self, request: web.Request) -> web.StreamResponse:
        batch = self._batch(request)
        if batch.ended:
            raise SimError(
                409, "invalid_request", f"Batch {batch.id} has ended and cannot be canceled."
            )
        if batch.cancelled_at is None:
            self._stats.batch_cancelled()
        return web.json_response(self._describe(self._store.cancel(batch, self._clock()), request))

    async def results(self, request: web.Request) -> web.StreamResponse:
        batch = self._batch(request)
        if not batch.ended:
            raise SimError(
                404,
                "not_found",
                f"Batch {batch.id} has not ended yet; its results are not available.",
            )
        lines = [json.dumps(line) for line in self._result_lines(batch)]
        random.Random(f"{self._config.seed}:{batch.id}").shuffle(lines)
        return web.Response(
            text="".join(f"{line}\n" for line in lines), content_type="application/x-jsonl"
        )

    def _batch(self, request: web.Request) -> Batch:
        batch_id = request.match_info["batch_id"]
        batch = self._store.get(batch_id, "anthropic", self._clock())
        if batch is None:
            raise SimError(404, "not_found", f"No batch found with id '{batch_id}'.")
        return batch

    def _result_lines(self, batch: Batch) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for request, result in zip(batch.requests, batch.results, strict=False):
            outcome: dict[str, Any] = (
                {"type": "succeeded", "message": result.body}
                if result.succeeded
                else {"type": "errored", "error": result.body}
            )
            lines.append({"custom_id": request.custom_id, "result": outcome})
        left = "expired" if batch.state.status == "expired" else "canceled"
        lines += [
            {"custom_id": request.custom_id, "result": {"type": left}}
            for request in batch.requests[len(batch.results) :]
        ]
        return lines

    def _describe(self, batch: Batch, request: web.Request) -> dict[str, Any]:
        state = batch.state
        ran = len(batch.results)
        succeeded = sum(1 for r in batch.results if r.succeeded)
        left = len(batch.requests) - ran
        ended = batch.ended
        results_url = None
        if ended:
            results_url = str(
                request.url.origin().with_path(f"/v1/messages/batches/{batch.id}/results")
            )
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else ANTHROPIC_STATUS[state.status],
            "request_counts": {
                "processing": 0 if ended else left,
                "succeeded": succeeded,
                "errored": ran - succeeded,
                "canceled": left if state.status == "cancelled" else 0,
                "expired": left if state.status == "expired" else 0,
            },
            "ended_at": _iso(state.ended_at),
            "created_at": _iso(batch.plan.created_at),
            "expires_at": _iso(batch.plan.expires_at),
            "cancel_initiated_at": _iso(batch.cancelled_at),
            "archived_at": None,
            "results_url": results_url,
        }


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
