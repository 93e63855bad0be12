"""Anthropic's Message Batches API: `POST {base_url}/v1/messages/batches` with every
request in one JSON body, polled until `processing_status` is `ended`, then the JSONL at
`results_url` read (results in any order).

Anthropic keeps no metadata on a batch, so a restart that does not know whether its
submission went through looks for a batch created since it started submitting with the
same number of requests that no other provider batch of ours has claimed (see
docs/providers.md, "Batch delivery"): right unless two runs submit batches of the same size
within the same minutes and crash while doing so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final

from pydantic import BaseModel

from releval_judge.providers.batches.base import (
    UPLOAD_TIMEOUT_S,
    BatchFile,
    BatchLimits,
    BatchPage,
    BatchRequest,
    BatchResult,
    BatchStatus,
    ProviderBatches,
    dumps,
)
from releval_judge.providers.errors import ProviderError
from releval_judge.providers.http import parse_body

LIMITS: Final = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
# An errored request's error type, as the HTTP status a live call would have answered.
_ERROR_STATUS: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class _Counts(BaseModel):
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class _Batch(BaseModel):
    id: str
    processing_status: str
    created_at: datetime | None = None
    request_counts: _Counts | None = None
    results_url: str | None = None


class _Result(BaseModel):
    type: str
    message: object = None
    error: object = None


class _ResultLine(BaseModel):
    custom_id: str
    result: _Result


class AnthropicBatches(ProviderBatches):
    """The message batches beside one judge's messages API (same key, same base URL)."""

    limits = LIMITS

    def new_file(self) -> BatchFile:
        return BatchFile(self.limits, header=b'{"requests":[', separator=b",", footer=b"]}")

    def encode(self, request: BatchRequest) -> bytes:
        return dumps({"custom_id": request.custom_id, "params": request.body})

    async def submit(self, file: BatchFile, key: str) -> BatchStatus:
        data = await self._request(
            "POST",
            "/v1/messages/batches",
            headers={**self.provider.headers, "content-type": "application/json"},
            data=file.finish(),
            subject="message batches endpoint",
            timeout_s=UPLOAD_TIMEOUT_S,
        )
        return _status(parse_body(_Batch, data))

    async def find(self, key: str, *, requests: int, since: datetime) -> BatchStatus | None:
        async for page in self._listed(
            "/v1/messages/batches?limit=100",
            "after_id",
            BatchPage[_Batch],
            "message batches endpoint",
        ):
            for batch in reversed(page.data):  # oldest first: the first one made since
                counts = batch.request_counts or _Counts()
                total = sum(counts.model_dump().values())
                created = batch.created_at
                if total == requests and created is not None and created >= since:
                    return _status(batch)
            oldest = page.data[-1].created_at if page.data else None
            if oldest is not None and oldest < since:
                return None
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self._request(
            "GET", f"/v1/messages/batches/{batch_id}", subject=f"message batch {batch_id}"
        )
        return _status(parse_body(_Batch, data))

    async def cancel(self, batch_id: str) -> BatchStatus:
        data = await self._request(
            "POST",
            f"/v1/messages/batches/{batch_id}/cancel",
            subject=f"message batch {batch_id}",
        )
        return _status(parse_body(_Batch, data))

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        if status.output_ref is None:
            return
        async for result in self._results_in(
            status.output_ref, f"results of message batch {status.id}"
        ):
            yield result

    def _result(self, line: bytes) -> BatchResult | None:
        item = self._line(_ResultLine, line)
        if item is None:
            return None
        custom_id, result = item.custom_id, item.result
        if result.type == "succeeded":
            return self._succeeded(custom_id, result.message)
        if result.type == "errored":
            # `{"type": "error", "error": {"type": "invalid_request_error", "message": …}}`
            inner = result.error.get("error") if isinstance(result.error, dict) else None
            kind = inner.get("type") if isinstance(inner, dict) else None
            status = _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
            return self._errored(custom_id, status, result.error)
        if result.type == "canceled":
            return BatchResult(custom_id, "canceled")
        if result.type == "expired":
            return BatchResult(custom_id, "expired")
        return BatchResult(
            custom_id, "errored", error=ProviderError(f"unknown result type {result.type!r}")
        )


def _status(batch: _Batch) -> BatchStatus:
    counts = batch.request_counts or _Counts()
    return BatchStatus(
        id=batch.id,
        status=batch.processing_status,
        ended=batch.processing_status == "ended",
        request_counts=counts.model_dump(),
        output_ref=batch.results_url,
    )
