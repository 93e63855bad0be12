"""A lean HTTP/1.1 load client for bench 8: one keep-alive connection per client, requests
encoded once, answers read by their Content-Length.

The clients share the machine's two cores with the service and PostgreSQL, so the CPU the
load generator spends is taken from what is measured. aiohttp's client costs several
hundred microseconds of CPU per request here; this one a fraction of that (bench 8 prints
both as "client µs/read": ``BENCH_READ_CLIENT=aiohttp`` brings the other back). Only what
the four reads need: GET, a 200 with a Content-Length (the service sets one on every JSON
answer), keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

_LENGTH = b"\r\ncontent-length:"


class RawConnection:
    """One keep-alive connection to ``base_url`` sending pre-encoded GETs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer)

    async def get(self, request: bytes) -> int:
        """Send one encoded request (:func:`encode_get`), read its whole answer, and return
        its status. An answer without a Content-Length is a ValueError (never expected)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        at = head.lower().find(_LENGTH)
        if at < 0:
            raise ValueError(f"an answer without a Content-Length: {head[:200]!r}")
        end = head.index(b"\r\n", at + len(_LENGTH))
        await self.reader.readexactly(int(head[at + len(_LENGTH) : end]))
        return status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def encode_get(base_url: str, path: str, headers: dict[str, str]) -> bytes:
    """``GET base_url's root + path`` as bytes, keep-alive, with ``headers``."""
    parts = urlsplit(base_url)
    lines = [f"GET {parts.path.rstrip('/')}{path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
