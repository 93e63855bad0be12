"""Reading provider answers within a byte cap: a body, or a file line by line.

A provider (or whatever answers at a judge's base_url) decides how much it sends; the
service decides how much it reads. Nothing here holds more than the cap (plus one chunk of
the network's) of one answer or one line in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

CHUNK = 1 << 16
# What is kept of a line over the cap: enough to find its custom_id.
HEAD_BYTES = 4096


async def read_capped(
    response: aiohttp.ClientResponse, limit: int, *, truncate: bool = False
) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (decompressed): refused
    from its Content-Length when it announces one, else as soon as the cap is passed.
    With `truncate`, the first `limit` bytes instead of None (an error body, quoted only).
    The connection of an answer not read to its end is closed, never reused."""
    if not truncate and response.content_length is not None and response.content_length > limit:
        response.close()
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > limit:
            response.close()
            return bytes(body[:limit]) if truncate else None
    return bytes(body)


@dataclass(frozen=True, slots=True)
class OversizedLine:
    """A line over the cap: its first `HEAD_BYTES` and its size; the rest was skipped."""

    head: bytes
    size: int


async def capped_lines(
    content: aiohttp.StreamReader, limit: int
) -> AsyncIterator[bytes | OversizedLine]:
    """The non-empty lines of a stream as they arrive, each line of more than `limit`
    bytes as an `OversizedLine` (read through and dropped, so the lines after it still
    come)."""
    line = bytearray()
    head = b""
    size = 0  # of the current line, counted also once it is no longer kept
    async for chunk in content.iter_chunked(CHUNK):
        start = 0
        while start <= len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            size += len(piece)
            if size <= limit:
                line += piece
            elif not head:  # the line has just passed the cap: keep its start only
                head = bytes(line[:HEAD_BYTES]) + piece[: max(HEAD_BYTES - len(line), 0)]
                line = bytearray()
            if end < 0:
                break
            item = _line(line, head, size, limit)
            if item is not None:
                yield item
            line, head, size = bytearray(), b"", 0
            start = end + 1
    item = _line(line, head, size, limit)
    if item is not None:
        yield item


def _line(line: bytearray, head: bytes, size: int, limit: int) -> bytes | OversizedLine | None:
    if size > limit:
        return OversizedLine(head, size)
    return bytes(line) if line.strip() else None
