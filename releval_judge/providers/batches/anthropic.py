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

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final

import aiohttp
import structlog
from pydantic import BaseModel, ValidationError

from releval_judge.providers.anthropic import AnthropicProvider
from releval_judge.providers.base import (
    ProviderError,
    classify_response,
    excerpt,
    parse_body,
    request_json,
)
from releval_judge.providers.batches.base import (
    FIND_PAGES,
    UPLOAD_TIMEOUT_S,
    BatchFile,
    BatchLimits,
    BatchRequest,
    BatchResult,
    BatchStatus,
    dumps,
    oversized_result,
    stream_lines,
)
from releval_judge.providers.reading import OversizedLine

log = structlog.get_logger(__name__)

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


class _BatchList(BaseModel):
    data: list[_Batch]
    has_more: bool = False
    last_id: str | None = None


class _Result(BaseModel):
    type: str
    message: object = None
    error: object = None


class _ResultLine(BaseModel):
    custom_id: str
    result: _Result


class AnthropicBatches:
    """The message batches beside one judge's messages API (same key, same base URL)."""

    limits = LIMITS

    def __init__(self, provider: AnthropicProvider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        self.config = provider.config
        self._session = session

    def new_file(self) -> BatchFile:
        return BatchFile(self.limits, header=b'{"requests":[', separator=b",", footer=b"]}")

    def encode(self, request: BatchRequest) -> bytes:
        return dumps({"custom_id": request.custom_id, "params": request.body})

    async def submit(self, file: BatchFile, key: str) -> BatchStatus:
        config = self.config.with_timeout_at_least(UPLOAD_TIMEOUT_S)
        data = await request_json(
            self._session,
            "POST",
            config.endpoint("/v1/messages/batches"),
            headers={**self.provider.headers, "content-type": "application/json"},
            config=config,
            data=file.finish(),
            subject="message batches endpoint",
        )
        return _status(parse_body(_Batch, data))

    async def find(self, key: str, *, requests: int, since: datetime) -> BatchStatus | None:
        after: str | None = None
        for _ in range(FIND_PAGES):
            path = "/v1/messages/batches?limit=100" + (f"&after_id={after}" if after else "")
            page = parse_body(_BatchList, await self._get(path, "message batches endpoint"))
            for batch in reversed(page.data):  # oldest first: the first one made since
                counts = batch.request_counts or _Counts()
                total = sum(counts.model_dump().values())
                created = batch.created_at
                if total == requests and created is not None and created >= since:
                    return _status(batch)
            oldest = page.data[-1].created_at if page.data else None
            if not page.has_more or not page.last_id or (oldest is not None and oldest < since):
                return None
            after = page.last_id
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self._get(f"/v1/messages/batches/{batch_id}", f"message batch {batch_id}")
        return _status(parse_body(_Batch, data))

    async def cancel(self, batch_id: str) -> BatchStatus:
        data = await request_json(
            self._session,
            "POST",
            self.config.endpoint(f"/v1/messages/batches/{batch_id}/cancel"),
            headers=self.provider.headers,
            config=self.config,
            subject=f"message batch {batch_id}",
        )
        return _status(parse_body(_Batch, data))

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        if status.output_ref is None:
            return
        async for line in stream_lines(
            self._session,
            status.output_ref,
            headers=self.provider.headers,
            config=self.config,
            subject=f"results of message batch {status.id}",
        ):
            if isinstance(line, OversizedLine):
                result = oversized_result(line, self.config.max_answer_bytes)
            else:
                result = self._result(line)
            if result is not None:
                yield result

    def _result(self, line: bytes) -> BatchResult | None:
        try:
            item = _ResultLine.model_validate_json(line)
        except ValidationError:
            log.warning("batch_line_unreadable", line=excerpt(line.decode(errors="replace")))
            return None
        custom_id, result = item.custom_id, item.result
        if result.type == "succeeded":
            try:
                completion = self.provider.parse_completion(result.message)
            except ProviderError as exc:
                return BatchResult(custom_id, "errored", error=exc)
            return BatchResult(custom_id, "succeeded", completion=completion)
        if result.type == "errored":
            return BatchResult(custom_id, "errored", error=self._error(result.error))
        if result.type == "canceled":
            return BatchResult(custom_id, "canceled")
        if result.type == "expired":
            return BatchResult(custom_id, "expired")
        return BatchResult(
            custom_id, "errored", error=ProviderError(f"unknown result type {result.type!r}")
        )

    def _error(self, error: object) -> ProviderError:
        """The error of an errored request, classified as the live call's answer would be:
        `{"type": "error", "error": {"type": "invalid_request_error", "message": …}}`."""
        inner = error.get("error") if isinstance(error, dict) else None
        kind = inner.get("type") if isinstance(inner, dict) else None
        status = _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
        return classify_response(
            status,
            json.dumps(error),
            {},
            model=self.config.model,
            api_key=self.config.api_key_value,
        )

    async def _get(self, path: str, subject: str) -> object:
        return await request_json(
            self._session,
            "GET",
            self.config.endpoint(path),
            headers=self.provider.headers,
            config=self.config,
            subject=subject,
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
