"""Slow and stalled clients, on real sockets: they hold no database connection, the API keeps
answering, and after RELEVAL_CLIENT_IDLE_S they are cut (docs/security.md, "Slow clients
and the gateway").

The stalled clients are raw TCP connections: uploads that send their headers (with a
large Content-Length) and a few lines, then nothing; exports whose response is never read
(a run large enough that its export cannot fit in the socket buffers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from tests.support.api import assert_error
from tests.support.service import TOKEN, Service, ServiceFactory
from tests.support.waiting import wait_for

STALLED = 12
CANDIDATES = 10_000
REASONING = "because " * 125  # 1,000 characters: the export is over 10 MB


@dataclass
class Raw:
    """One raw HTTP/1.1 connection to the service."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, service: Service, head: str, body: bytes = b"") -> Raw:
        port = int(service.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head.encode() + body)
        await writer.drain()
        return cls(reader, writer)

    async def read_to_end(self) -> tuple[bytes, str]:
        """Everything the service sends until it closes: the bytes and how it closed."""
        data = bytearray()
        try:
            while chunk := await self.reader.read(1 << 20):
                data += chunk
        except ConnectionResetError:
            return bytes(data), "reset"
        return bytes(data), "eof"

    def close(self) -> None:
        self.writer.close()


def upload_head(service: Service, evaluation_id: str, content_length: int) -> str:
    return (
        f"POST /api/v1/evaluations/runs/{evaluation_id}/candidates HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/x-ndjson\r\nContent-Length: {content_length}\r\n\r\n"
    )


def export_head(evaluation_id: str) -> str:
    return (
        f"GET /api/v1/evaluations/runs/{evaluation_id}/judgments/export?format=jsonl HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )


def candidate_lines(count: int, prefix: str = "up") -> bytes:
    return b"".join(
        json.dumps(
            {"query_id": f"{prefix}-q", "query": "q", "doc_id": f"{prefix}-{n}", "rank": n}
        ).encode()
        + b"\n"
        for n in range(count)
    )


async def large_run(service: Service, db: asyncpg.Pool) -> str:
    """An evaluation run of CANDIDATES candidates, each with a human judgment of 1 KB."""
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "slow clients", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201, evaluation
    eval_id: str = evaluation["id"]
    await db.execute(
        """
        WITH q AS (
            INSERT INTO queries (evaluation_run_id, query_id, text)
            SELECT $1::uuid, 'q' || lpad(g::text, 4, '0'), 'query ' || g
            FROM generate_series(1, $2::int / 100) g RETURNING query_id
        ), c AS (
            INSERT INTO candidates (evaluation_run_id, query_id, doc_id, rank, text)
            SELECT $1::uuid, q.query_id, q.query_id || '-d' || lpad(r::text, 3, '0'), r,
                   repeat('text ', 200)
            FROM q, generate_series(1, 100) r RETURNING id
        )
        INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade, reasoning)
        SELECT id, $1::uuid, 'alice', 1, $3 FROM c
        """,
        eval_id,
        CANDIDATES,
        REASONING,
    )
    return eval_id


async def candidates(db: asyncpg.Pool, eval_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM candidates WHERE evaluation_run_id = $1::uuid", eval_id
    )
    return count


async def busy_backends(db: asyncpg.Pool) -> list[str]:
    """Backends of the test database other than this query's that hold a query or a
    transaction (the service's pools are the only other clients)."""
    rows = await db.fetch(
        """SELECT state FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND (state = 'active' OR state LIKE 'idle in transaction%')"""
    )
    return [r["state"] for r in rows]


async def held_transactions(db: asyncpg.Pool, older_than_s: float) -> list[str]:
    """The last query of each backend idle in a transaction that began over older_than_s
    ago. A background loop between two statements of its own short transaction is idle in
    transaction for an instant; a client's request holding one would be as old as the
    stall."""
    rows = await db.fetch(
        """SELECT query FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND state LIKE 'idle in transaction%'
             AND clock_timestamp() - xact_start > make_interval(secs => $1)""",
        older_than_s,
    )
    return [r["query"] for r in rows]


@contextlib.asynccontextmanager
async def stalled_clients(service: Service, eval_id: str) -> AsyncIterator[list[Raw]]:
    """STALLED uploads (headers, a few lines, then nothing) and STALLED exports whose
    response headers were read and nothing more."""
    uploads = [
        await Raw.open(service, upload_head(service, eval_id, 100_000_000), candidate_lines(3))
        for _ in range(STALLED)
    ]
    exports = [await Raw.open(service, export_head(eval_id)) for _ in range(STALLED)]
    try:
        for export in exports:
            head = await export.reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
        yield uploads + exports
    finally:
        for raw in uploads + exports:
            raw.close()


async def test_stalled_uploads_and_unread_exports_leave_the_api_answering(
    service: Service, db: asyncpg.Pool
) -> None:
    eval_id = await large_run(service, db)
    async with stalled_clients(service, eval_id):
        # The time limit only stops a hung test: before, the pool's five connections were
        # all held by the stalled clients and these requests waited for ever.
        async with asyncio.timeout(10):
            for _ in range(10):
                status, body = await service.request("GET", "/ai-judges")
                assert status == 200, body
            status, body = await service.request(
                "GET", f"/evaluations/runs/{eval_id}/judgments", params={"limit": "10"}
            )
            assert status == 200 and len(body["items"]) == 10, body
        # Nobody holds a transaction open while the 24 clients wait. (The stall has lasted
        # over a second by now; the service's own loops' transactions last milliseconds.)
        await asyncio.sleep(1.5)
        assert await held_transactions(db, older_than_s=1.0) == []
    assert await candidates(db, eval_id) == CANDIDATES  # nothing of the uploads went in


def export_ends(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    """How the service saw each export end early: cut by the service, or the connection
    gone (dropped by the kernel when it was first to see the client read nothing)."""
    return [
        e["event"]
        for e in logs
        if e["path"].endswith("/export")
        and (e["event"] == "client_cut" or e.get("during") == "response")
    ]


async def test_stalled_clients_are_cut_after_client_idle_s(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    service = await services.start(client_idle_s=1)
    eval_id = await large_run(service, db)
    with structlog.testing.capture_logs() as logs:
        async with stalled_clients(service, eval_id) as clients:

            async def all_ended() -> bool:
                uploads = [e for e in logs if e.get("reason") == "request_body"]
                return len(uploads) == STALLED and len(export_ends(logs)) == STALLED

            await wait_for(all_ended, timeout=30)

            async def nothing_busy() -> bool:
                return not await busy_backends(db)

            await wait_for(nothing_busy, timeout=10)
            # Closed by the service before the clients read anything more.
            await wait_for(lambda: _no_connections(service), timeout=20)
            async with asyncio.timeout(10):
                ends = await asyncio.gather(*(raw.read_to_end() for raw in clients))
    uploads, exports = ends[:STALLED], ends[STALLED:]
    for data, _ in uploads:
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), data[:500]
        assert b"connection: close" in head.lower(), head
        error = assert_error(408, json.loads(body), 408, "client_timeout")
        assert "RELEVAL_CLIENT_IDLE_S" in error["message"], error
    for data, how in exports:
        # The connection ends (closed or reset) without the chunked body's last chunk, so
        # that no client takes a cut export for a whole one.
        assert how in ("eof", "reset")
        assert not data.endswith(b"\r\n0\r\n\r\n"), data[-100:]
        assert 0 < data.count(b'"candidate_id"') < CANDIDATES
    cut = next(e for e in logs if e["event"] == "client_cut")
    assert cut["log_level"] == "warning" and cut["idle_s"] == 1
    assert "alice" not in json.dumps(logs, default=str)  # no body in any log line
    assert await candidates(db, eval_id) == CANDIDATES  # nothing of the uploads went in


async def test_an_export_nobody_reads_is_stopped_then_dropped(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    """The service stops sending after client_idle_s and says so; the kernel then drops
    the connection (its buffers with it) although the client never reads."""
    service = await services.start(client_idle_s=1)
    eval_id = await large_run(service, db)
    with structlog.testing.capture_logs() as logs:
        export = await Raw.open(service, export_head(eval_id))
        try:
            assert (await export.reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")

            async def cut() -> bool:
                return export_ends(logs) == ["client_cut"]

            await wait_for(cut, timeout=10)
            # The service side of the connection is gone once uvicorn has let it go.
            await wait_for(lambda: _no_connections(service), timeout=10)
            async with asyncio.timeout(10):
                data, how = await export.read_to_end()
        finally:
            export.close()
    assert how == "reset", how  # dropped with unread data: the client gets a reset
    assert 0 < data.count(b'"candidate_id"') < CANDIDATES
    assert not await busy_backends(db)


async def _no_connections(service: Service) -> bool:
    return not service.server.server_state.connections


async def test_a_slow_but_reading_client_gets_the_whole_export(
    services: ServiceFactory, db: asyncpg.Pool
) -> None:
    service = await services.start(client_idle_s=1)
    eval_id = await large_run(service, db)
    received = bytearray()
    async with service.client.get(
        f"{service.api}/evaluations/runs/{eval_id}/judgments/export", params={"format": "jsonl"}
    ) as resp:
        assert resp.status == 200
        # Slower than the service writes (its sends wait for the client), never idle for 1 s.
        while chunk := await resp.content.read(1 << 20):
            received += chunk
            await asyncio.sleep(0.2)
    rows = [json.loads(line) for line in received.decode().splitlines()]
    assert len(rows) == CANDIDATES
    assert len({r["candidate_id"] for r in rows}) == CANDIDATES
    keys = [(r["query_id"], r["rank"]) for r in rows]
    assert keys == sorted(keys) and keys[0] == ("q0001", 1) and keys[-1] == ("q0100", 100)
    assert all(r["reasoning"] == REASONING for r in rows)


async def test_an_upload_that_pauses_less_than_client_idle_s_is_imported(
    services: ServiceFactory,
) -> None:
    service = await services.start(client_idle_s=1)
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "slow upload", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201

    async def slowly() -> AsyncIterator[bytes]:
        for part in range(4):
            yield candidate_lines(500, prefix=f"p{part}")
            await asyncio.sleep(0.5)

    status, body = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/candidates", data=slowly()
    )
    assert status == 201, body
    assert body["imported"] == 2000


async def test_an_import_over_max_import_bytes_is_413_and_imports_nothing(
    services: ServiceFactory,
) -> None:
    service = await services.start(max_import_bytes=100_000)
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "capped", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201
    path = f"/evaluations/runs/{evaluation['id']}/candidates"
    lines = candidate_lines(3000)  # about 250 KB
    assert len(lines) > 100_000

    def check(status: int, body: Any) -> None:
        error = assert_error(status, body, 413, "payload_too_large")
        assert "100000 bytes" in error["message"], error
        assert "RELEVAL_MAX_IMPORT_BYTES" in error["message"], error
        assert error["details"] == {"limit": 100_000, "setting": "RELEVAL_MAX_IMPORT_BYTES"}

    # Declared too large: refused at once, before a byte of the body is sent.
    raw = await Raw.open(service, upload_head(service, evaluation["id"], len(lines)))
    try:
        async with asyncio.timeout(10):
            data, _ = await raw.read_to_end()
    finally:
        raw.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), data[:300]
    check(413, json.loads(body))

    # Streamed (chunked, no length): refused once the body passes the limit.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(lines), 10_000):
            yield lines[start : start + 10_000]

    status, body = await service.request("POST", path, data=chunks())
    check(status, body)

    status, run = await service.request("GET", f"/evaluations/runs/{evaluation['id']}")
    assert run["candidate_count"] == 0

    # Under the limit, the same kind of body goes in.
    status, body = await service.request("POST", path, data=candidate_lines(1000))
    assert status == 201 and body["imported"] == 1000, body
