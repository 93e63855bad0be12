"""An NDJSON import's body, received whole before the database sees any of it.

The body is spooled (in memory up to :data:`SPOOL_MEMORY_BYTES`, then in a temporary file
that is deleted when the import ends) and every line is validated as it arrives, so that
an error still names its line and comes as soon as that line is in. Only once the client
has sent everything is the spool replayed into COPY: a client that uploads slowly, or
stalls, holds no database connection and no transaction (docs/security.md, "Slow clients
and the gateway").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO, Final

from pydantic import ValidationError
from starlette.requests import Request

from releval_judge.errors import InvalidJson, PayloadTooLarge, ValidationFailed
from releval_judge.models import CandidateLine
from releval_judge.web.body import summarise, validation_details

MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: What a spool keeps in memory before it moves to a temporary file.
SPOOL_MEMORY_BYTES: Final = 1024 * 1024
#: Validated lines are written to (and read back from) the spool in blocks of about this
#: size, in a worker thread: a spool on disk never blocks the event loop.
BLOCK_BYTES: Final = 1024 * 1024

LIMIT_SETTING: Final = "RELEVAL_MAX_IMPORT_BYTES"


@contextlib.contextmanager
def ndjson_spool(request: Request, max_bytes: int) -> Iterator[NdjsonSpool]:
    """A spool for ``request``'s body, deleted when the block ends."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as file:
        yield NdjsonSpool(request, file, max_bytes)


class NdjsonSpool:
    """``receive`` the body, then replay its ``candidates`` (an import's
    ``services.evaluation_runs.CandidateUpload``)."""

    def __init__(self, request: Request, file: IO[bytes], max_bytes: int) -> None:
        self._request = request
        self._file = file
        self.max_bytes = max_bytes

    async def receive(self) -> None:
        """Read and check the whole body: 413 over ``max_bytes`` (from Content-Length at
        once, else as soon as the stream passes it), 400/422 naming the first bad line."""
        request = self._request
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise PayloadTooLarge(self.max_bytes, setting=LIMIT_SETTING)
        pending = bytearray()  # the unfinished last line
        block = bytearray()  # validated lines not yet written to the spool
        size = 0
        line_no = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise PayloadTooLarge(self.max_bytes, setting=LIMIT_SETTING)
            searched = len(pending)  # the unfinished line before this chunk has no newline
            pending += chunk
            start = 0
            while (end := pending.find(b"\n", searched)) >= 0:
                line_no += 1
                _keep_valid(pending[start : end + 1], line_no, block)
                start = searched = end + 1
            del pending[:start]
            if len(pending) > MAX_LINE_BYTES:
                raise ValidationFailed(
                    f"line {line_no + 1} is longer than {MAX_LINE_BYTES} bytes; "
                    "nothing was imported"
                )
            if len(block) >= BLOCK_BYTES:
                await asyncio.to_thread(self._file.write, bytes(block))
                block.clear()
        if pending.strip():
            _keep_valid(pending + b"\n", line_no + 1, block)
        await asyncio.to_thread(self._file.write, bytes(block))

    async def candidates(self) -> AsyncIterator[CandidateLine]:
        """The received lines, in order (each was validated as it arrived)."""
        async for _, candidate in self.numbered():
            yield candidate

    async def numbered(self) -> AsyncIterator[tuple[int, CandidateLine]]:
        """The received lines with their line numbers in the body (blank lines are kept
        in the spool as empty ones, so that the numbers hold)."""
        await asyncio.to_thread(self._file.seek, 0)
        rest = b""
        line_no = 0
        while block := await asyncio.to_thread(self._file.read, BLOCK_BYTES):
            *lines, rest = (rest + block).split(b"\n")
            for raw in lines:
                line_no += 1
                if raw:
                    yield line_no, CandidateLine.model_validate_json(raw)


def _json_cause(raw: bytes, fallback: str) -> str:
    """Why a line is not JSON, as Python's json says it (`Expecting ',' delimiter at
    column 17`: the column within the line); `fallback` (pydantic's words) when json
    parses what pydantic refused."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at column {exc.colno}"
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1})"
    except ValueError as exc:
        return str(exc)
    return fallback


def _keep_valid(raw: bytearray, line_no: int, block: bytearray) -> None:
    """Append ``raw`` (one line with its newline) to ``block`` when it holds a valid
    candidate; skip it when blank; raise naming the line otherwise."""
    if not raw.strip():
        block += b"\n"  # kept, empty, so that replayed lines keep their numbers
        return
    try:
        CandidateLine.model_validate_json(raw)
    except ValidationError as exc:
        invalid = [e for e in exc.errors() if e["type"] == "json_invalid"]
        if invalid:
            cause = _json_cause(bytes(raw).rstrip(b"\r\n"), invalid[0]["msg"])
            raise InvalidJson(
                f"line {line_no}: malformed JSON: {cause}; nothing was imported"
            ) from exc
        details = validation_details(exc, prefix=f"line {line_no}")
        raise ValidationFailed(
            f"line {line_no}: {summarise(details)}; nothing was imported", details=details
        ) from exc
    block += raw
