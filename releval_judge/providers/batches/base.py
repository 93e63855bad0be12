"""What every provider batch API has in common: limits, the file of requests, the status,
the results, and the client protocol the engine drives.

A provider batch carries many requests, each one live request's body under a `custom_id`
(one batch of candidates of the run). The requests are written to a temporary file as they
are planned, so that a batch of 200 MB never sits in memory; the client sends that file.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Generic, Literal, Protocol, TypeVar

import aiohttp
import structlog
from pydantic import BaseModel, ValidationError

from releval_judge.providers.base import Completion, WireProvider
from releval_judge.providers.config import ProviderConfig
from releval_judge.providers.errors import (
    ProviderError,
    TransientProviderError,
    classify_response,
    excerpt,
    redirected,
    scrub,
    too_large,
)
from releval_judge.providers.http import parse_body, request_json
from releval_judge.providers.reading import OversizedLine, capped_lines, read_capped

log = structlog.get_logger(__name__)
Line = TypeVar("Line", bound=BaseModel)
Listed = TypeVar("Listed", bound=BaseModel)

ResultKind = Literal["succeeded", "errored", "canceled", "expired"]

# Files of requests and of results can be hundreds of megabytes: their transfers may take
# longer than one call.
UPLOAD_TIMEOUT_S = 900.0
_DOWNLOAD_TIMEOUT_S = 900.0
# After a crash during a submission, how many pages (of 100, newest first) of the
# provider's batches are searched for it.
FIND_PAGES = 10


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most requests and bytes one provider batch may carry."""

    max_requests: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a provider batch: the live request's body under `custom_id`."""

    custom_id: str
    body: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A provider batch as the provider reports it.

    `status` is the provider's own word (OpenAI: validating … completed; Anthropic:
    in_progress, canceling, ended); `ended` is true once no request will change any more
    and the results can be read from `output_ref` (and `error_ref`). `error` says why the
    provider refused the whole batch, when it did (an invalid input file).
    """

    id: str
    status: str
    ended: bool
    request_counts: Mapping[str, int]
    output_ref: str | None = None
    error_ref: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one request: a completion, or the provider's error for it, or the
    word that it never ran (canceled with its batch, or expired before its turn)."""

    custom_id: str
    kind: ResultKind
    completion: Completion | None = None
    error: ProviderError | None = None


class BatchPage(BaseModel, Generic[Listed]):
    """One page of a provider's list of batches, newest first."""

    data: list[Listed]
    has_more: bool = False
    last_id: str | None = None


class BatchFile:
    """The requests of one provider batch in a temporary file, in the provider's layout:
    `header`, the encoded requests joined by `separator`, `footer`.

    `fits` says whether one more request stays within the limits, so that the planner
    starts the next provider batch in time.
    """

    def __init__(
        self, limits: BatchLimits, *, header: bytes, separator: bytes, footer: bytes
    ) -> None:
        self.limits = limits
        self._separator = separator
        self._footer = footer
        # Closed by close(), when the provider batch is submitted or given up.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="releval-batch-")  # noqa: SIM115
        self._file.write(header)
        self.size = len(header) + len(footer)
        self.custom_ids: list[str] = []

    def __len__(self) -> int:
        return len(self.custom_ids)

    def fits(self, encoded: bytes) -> bool:
        extra = len(encoded) + (len(self._separator) if self.custom_ids else 0)
        return (
            len(self.custom_ids) < self.limits.max_requests
            and self.size + extra <= self.limits.max_bytes
        )

    def add(self, custom_id: str, encoded: bytes) -> None:
        if self.custom_ids:
            self._file.write(self._separator)
            self.size += len(self._separator)
        self._file.write(encoded)
        self.size += len(encoded)
        self.custom_ids.append(custom_id)

    def finish(self) -> IO[bytes]:
        """The whole file, positioned at its start (to be sent)."""
        self._file.write(self._footer)
        self._file.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._file.close()


class BatchClient(Protocol):
    """One provider's batch API for one judge (its config and live request bodies)."""

    limits: BatchLimits

    def new_file(self) -> BatchFile: ...

    def encode(self, request: BatchRequest) -> bytes:
        """The request as it goes into the file (one JSONL line, one array element)."""
        ...

    async def submit(self, file: BatchFile, key: str) -> BatchStatus:
        """Create the provider batch; `key` goes with it where the provider keeps it
        (OpenAI: metadata), so that `find` can tell whether a submission took place."""
        ...

    async def find(self, key: str, *, requests: int, since: datetime) -> BatchStatus | None:
        """The batch submitted under `key` (with `requests` requests, not before `since`),
        or None when the provider has none: asked after a crash during `submit`."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def cancel(self, batch_id: str) -> BatchStatus: ...

    def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        """Every result the provider has for an ended batch, in any order."""
        ...


def dumps(value: object) -> bytes:
    """Compact JSON, as the files carry it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


async def stream_lines(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    config: ProviderConfig,
    subject: str,
) -> AsyncIterator[bytes | OversizedLine]:
    """The non-empty lines of a (large) file the provider serves, read as they arrive,
    each within `config.max_answer_bytes` (a longer one comes as an `OversizedLine`).

    Errors are classified as for live calls (`classify_response`); a 3xx is `Redirected`
    (never followed); a broken transfer is a `TransientProviderError`, so the caller reads
    the file again (results are idempotent).
    """
    timeout = aiohttp.ClientTimeout(total=_DOWNLOAD_TIMEOUT_S, sock_read=config.request_timeout_s)
    api_key = config.api_key_value
    try:
        async with session.get(
            url, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if 300 <= response.status < 400:
                raise redirected(response.status, response.headers, api_key=api_key)
            if not 200 <= response.status < 300:
                body = await read_capped(response, config.max_answer_bytes, truncate=True)
                raise classify_response(
                    response.status, body or b"", response.headers, api_key=api_key, subject=subject
                )
            async for line in capped_lines(response.content, config.max_answer_bytes):
                yield line
    except TimeoutError as exc:
        raise TransientProviderError(f"timed out reading {subject}") from exc
    except aiohttp.ClientError as exc:
        reason = str(exc) or type(exc).__name__
        message = scrub(f"connection error reading {subject}: {reason}", api_key)
        raise TransientProviderError(message) from exc


_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"([^"\\]{1,64})"')


def oversized_result(line: OversizedLine, limit: int) -> BatchResult | None:
    """The result for a line over the cap: its request errored, named by the custom_id
    found at the line's start (both providers write it first); None when there is none
    (the request is then reported as missing from the results)."""
    match = _CUSTOM_ID.search(line.head)
    if match is None:
        log.warning("batch_line_too_large", size=line.size, limit=limit)
        return None
    error = too_large(limit, f"the provider's result for this request ({line.size} bytes)")
    return BatchResult(match.group(1).decode(), "errored", error=error)


class KeyedProvider(WireProvider, Protocol):
    """A live provider whose key goes in `headers`: its batch API takes the same."""

    headers: dict[str, str]


class ProviderBatches:
    """What both providers' batch clients share: the judge's provider (config, key,
    completion parsing) and session, requests to the batch API, result files read line
    by line within the answer cap, and a request's result read as a live call's answer."""

    limits: BatchLimits

    def __init__(self, provider: KeyedProvider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        self.config = provider.config
        self._session = session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        payload: dict[str, object] | None = None,
        data: object = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> object:
        """`request_json` at `path` of the base URL with the provider's key (or `headers`),
        waiting at least `timeout_s` for the answer when given (uploads)."""
        config = self.config
        if timeout_s is not None:
            config = config.with_timeout_at_least(timeout_s)
        return await request_json(
            self._session,
            method,
            config.endpoint(path),
            headers=self.provider.headers if headers is None else headers,
            config=config,
            payload=payload,
            data=data,
            subject=subject,
        )

    async def _listed(
        self, path: str, after: str, page: type[BatchPage[Listed]], subject: str
    ) -> AsyncIterator[BatchPage[Listed]]:
        """The pages of the provider's list of batches at `path`, at most `FIND_PAGES`;
        `after` is the query parameter that asks for the page after a batch id."""
        last: str | None = None
        for _ in range(FIND_PAGES):
            url = path + (f"&{after}={last}" if last else "")
            current = parse_body(page, await self._request("GET", url, subject=subject))
            yield current
            if not current.has_more or not current.last_id:
                return
            last = current.last_id

    async def _results_in(self, url: str, subject: str) -> AsyncIterator[BatchResult]:
        """The results in the file at `url`, one a line (`_result`); a line over the cap
        errors its request (`oversized_result`)."""
        async for line in stream_lines(
            self._session, url, headers=self.provider.headers, config=self.config, subject=subject
        ):
            if isinstance(line, OversizedLine):
                result = oversized_result(line, self.config.max_answer_bytes)
            else:
                result = self._result(line)
            if result is not None:
                yield result

    def _result(self, line: bytes) -> BatchResult | None:
        """The result of one line of a results file, None for a line without one."""
        raise NotImplementedError

    @staticmethod
    def _line(model: type[Line], line: bytes) -> Line | None:
        """A results file's line read as `model`; None (logged) when it is not one."""
        try:
            return model.model_validate_json(line)
        except ValidationError:
            log.warning("batch_line_unreadable", line=excerpt(line.decode(errors="replace")))
            return None

    def _succeeded(self, custom_id: str, body: object) -> BatchResult:
        """A request's answer body, read as the live call's would be."""
        try:
            completion = self.provider.parse_completion(body)
        except ProviderError as exc:
            return BatchResult(custom_id, "errored", error=exc)
        return BatchResult(custom_id, "succeeded", completion=completion)

    def _errored(self, custom_id: str, status: int, body: object) -> BatchResult:
        """A request the provider errored, classified as the live call's answer would be."""
        error = classify_response(
            status,
            json.dumps(body),
            {},
            model=self.config.model,
            api_key=self.config.api_key_value,
        )
        return BatchResult(custom_id, "errored", error=error)
