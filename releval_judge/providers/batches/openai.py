"""OpenAI's Batch API: a JSONL file uploaded to `{base_url}/files` (purpose `batch`), a
batch created from it at `{base_url}/batches`, polled, and its output and error files read.

The submission key goes in the batch's `metadata` (`releval_submission`), so that a
restart which does not know whether its `POST /batches` went through lists the batches
and finds it instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final

import aiohttp
from pydantic import BaseModel

from releval_judge.providers.batches.base import (
    UPLOAD_TIMEOUT_S,
    BatchFile,
    BatchLimits,
    BatchPage,
    BatchRequest,
    BatchResult,
    BatchStatus,
    KeyedProvider,
    ProviderBatches,
    dumps,
)
from releval_judge.providers.errors import ProviderError
from releval_judge.providers.http import parse_body

LIMITS: Final = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
METADATA_KEY: Final = "releval_submission"
_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


class _Counts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class _ErrorItem(BaseModel):
    code: str | None = None
    message: str | None = None
    line: int | None = None


class _Errors(BaseModel):
    data: list[_ErrorItem] = []


class _Batch(BaseModel):
    id: str
    status: str
    created_at: int | None = None
    request_counts: _Counts | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: _Errors | None = None
    metadata: dict[str, str] | None = None


class _File(BaseModel):
    id: str


class _Response(BaseModel):
    status_code: int
    body: object = None


class _LineError(BaseModel):
    code: str | None = None
    message: str | None = None


class _OutputLine(BaseModel):
    custom_id: str
    response: _Response | None = None
    error: _LineError | None = None


class OpenAIBatches(ProviderBatches):
    """The batch API beside one judge's chat completions (same key, same base URL)."""

    limits = LIMITS

    def __init__(self, provider: KeyedProvider, session: aiohttp.ClientSession) -> None:
        super().__init__(provider, session)
        # Azure's v1 API takes the request path without the version (its docs' examples).
        self.endpoint = "/chat/completions" if self.config.is_azure else "/v1/chat/completions"

    def new_file(self) -> BatchFile:
        return BatchFile(self.limits, header=b"", separator=b"\n", footer=b"\n")

    def encode(self, request: BatchRequest) -> bytes:
        return dumps(
            {
                "custom_id": request.custom_id,
                "method": "POST",
                "url": self.endpoint,
                "body": request.body,
            }
        )

    async def submit(self, file: BatchFile, key: str) -> BatchStatus:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field(
            "file", file.finish(), filename="releval-batch.jsonl", content_type="application/jsonl"
        )
        uploaded = await self._request(
            "POST", "/files", data=form, subject="files endpoint", timeout_s=UPLOAD_TIMEOUT_S
        )
        input_file = parse_body(_File, uploaded)
        created = await self._request(
            "POST",
            "/batches",
            payload={
                "input_file_id": input_file.id,
                "endpoint": self.endpoint,
                "completion_window": "24h",
                "metadata": {METADATA_KEY: key},
            },
            subject="batches endpoint",
        )
        return _status(parse_body(_Batch, created))

    async def find(self, key: str, *, requests: int, since: datetime) -> BatchStatus | None:
        async for page in self._listed(
            "/batches?limit=100", "after", BatchPage[_Batch], "batches endpoint"
        ):
            for batch in page.data:
                if (batch.metadata or {}).get(METADATA_KEY) == key:
                    return _status(batch)
            oldest = page.data[-1].created_at if page.data else None
            if oldest is not None and oldest < since.timestamp() - 300:
                return None
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self._request("GET", f"/batches/{batch_id}", subject=f"batch {batch_id}")
        return _status(parse_body(_Batch, data))

    async def cancel(self, batch_id: str) -> BatchStatus:
        data = await self._request(
            "POST", f"/batches/{batch_id}/cancel", subject=f"batch {batch_id}"
        )
        return _status(parse_body(_Batch, data))

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        for file_id in (status.output_ref, status.error_ref):
            if file_id is None:
                continue
            async for result in self._results_in(
                self.config.endpoint(f"/files/{file_id}/content"), f"file {file_id}"
            ):
                yield result

    def _result(self, line: bytes) -> BatchResult | None:
        item = self._line(_OutputLine, line)
        if item is None:
            return None
        custom_id = item.custom_id
        if item.response is not None and 200 <= item.response.status_code < 300:
            return self._succeeded(custom_id, item.response.body)
        if item.response is not None:
            return self._errored(custom_id, item.response.status_code, item.response.body)
        code = item.error.code if item.error else None
        message = (item.error.message if item.error else None) or "no response"
        if code == "batch_expired":
            return BatchResult(custom_id, "expired", error=ProviderError(message))
        if code == "batch_cancelled":
            return BatchResult(custom_id, "canceled", error=ProviderError(message))
        return BatchResult(
            custom_id, "errored", error=ProviderError(f"{code or 'error'}: {message}")
        )


def _status(batch: _Batch) -> BatchStatus:
    counts = batch.request_counts or _Counts()
    error = None
    if batch.status == "failed":
        details = "; ".join(
            f"{e.code or 'error'}: {e.message or ''}".strip()
            + (f" (line {e.line})" if e.line is not None else "")
            for e in (batch.errors.data if batch.errors else [])
        )
        error = f"the provider refused the batch {batch.id}: {details or 'no reason given'}"
    return BatchStatus(
        id=batch.id,
        status=batch.status,
        ended=batch.status in _ENDED,
        request_counts=counts.model_dump(),
        output_ref=batch.output_file_id,
        error_ref=batch.error_file_id,
        error=error,
    )
