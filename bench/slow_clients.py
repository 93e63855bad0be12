"""GET latency while 24 clients stall (docs/security.md, "Slow clients and the gateway";
target < 1 s): a figure, never a pass/fail.

One service process with the default settings (as ``make run``: 5 API connections,
RELEVAL_CLIENT_IDLE_S 30 s), an evaluation run of 20,000 candidates with 1 KB texts
(imported through the API) and a human judgment with a 1 KB reasoning each (written
straight into the database: set-up only), so that one export is ~25 MB, far more than
socket buffers hold. Then, on raw sockets:

- 12 NDJSON uploads send their headers (Content-Length 1 GB) and three lines, then nothing;
- 12 exports of that run send their request, then read nothing.

While the 24 stall (well within the 30 s before they are cut), ``GET /api/v1/ai-judges`` is
asked ~100 times, one after another; each request gives up after 15 s (counted as a
timeout), and the series stops after three timeouts. The same series without stalled
clients comes first, for comparison.

Usage: ``python -m bench.slow_clients [--requests N]``; ``make bench`` runs it as the
``slow_clients`` scenario. For the code before a change, run this file from a checkout of
that code (copy it into its ``bench/``): the service process is started from the
checkout's package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.harness import Database, Service, database, service

CANDIDATES = 20_000
TEXT = "lorem ipsum " * 85  # ~1 KB
REASONING = "because it says so " * 54  # ~1 KB
STALLED = 12
REQUEST_TIMEOUT_S = 15.0
MAX_TIMEOUTS = 3
SETTLE_S = 3.0


@dataclass
class Latency:
    requests: int
    timeouts: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def _ndjson(start: int, count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "query_id": f"q{n // 100:04d}",
                "query": f"query {n // 100}",
                "doc_id": f"d{n}",
                "rank": n % 100 + 1,
                "text": TEXT,
            }
        ).encode()
        + b"\n"
        for n in range(start, start + count)
    )


async def _chunks() -> AsyncIterator[bytes]:
    for start in range(0, CANDIDATES, 2000):
        yield _ndjson(start, 2000)


async def _large_run(client: aiohttp.ClientSession, svc: Service, db: Database) -> str:
    api = svc.url + "/api/v1"
    async with client.post(
        f"{api}/evaluations/runs",
        json={"name": "slow clients", "scale": {"min": 0, "max": 3}},
    ) as resp:
        assert resp.status == 201, await resp.text()
        run_id: str = (await resp.json())["id"]
    async with client.post(
        f"{api}/evaluations/runs/{run_id}/candidates",
        data=_chunks(),
        headers={"Content-Type": "application/x-ndjson"},
    ) as resp:
        assert resp.status == 201, await resp.text()
    conn = await asyncpg.connect(db.url)
    try:
        await conn.execute(
            """INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade,
                                            reasoning)
               SELECT id, evaluation_run_id, 'bench', 1, $2 FROM candidates
               WHERE evaluation_run_id = $1::uuid""",
            run_id,
            REASONING,
        )
    finally:
        await conn.close()
    return run_id


@contextlib.asynccontextmanager
async def _stalled(svc: Service, run_id: str) -> AsyncIterator[None]:
    host, port = svc.url.removeprefix("http://").split(":")
    auth = f"Authorization: Bearer {svc.token}\r\n"
    upload = (
        f"POST /api/v1/evaluations/runs/{run_id}/candidates HTTP/1.1\r\nHost: {host}\r\n{auth}"
        "Content-Type: application/x-ndjson\r\nContent-Length: 1000000000\r\n\r\n"
    ).encode() + _ndjson(CANDIDATES, 3)
    export = (
        f"GET /api/v1/evaluations/runs/{run_id}/judgments/export?format=jsonl HTTP/1.1\r\n"
        f"Host: {host}\r\n{auth}\r\n"
    ).encode()
    writers: list[asyncio.StreamWriter] = []
    try:
        for request in [upload] * STALLED + [export] * STALLED:
            _, writer = await asyncio.open_connection(host, int(port))
            writers.append(writer)
            writer.write(request)
            await writer.drain()
        # Time for the service to take them all up (and fill the exports' buffers); nothing
        # is read from them, not even a response's headers.
        await asyncio.sleep(SETTLE_S)
        yield
    finally:
        for writer in writers:
            writer.close()


async def _latency(client: aiohttp.ClientSession, svc: Service, requests: int) -> Latency:
    times: list[float] = []
    timeouts = 0
    for _ in range(requests):
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                async with client.get(svc.url + "/api/v1/ai-judges") as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
            times.append((time.perf_counter() - started) * 1000)
        except TimeoutError:
            timeouts += 1
            if timeouts == MAX_TIMEOUTS:
                break
        await asyncio.sleep(0.05)
    ordered = sorted(times)
    return Latency(
        requests=len(times) + timeouts,
        timeouts=timeouts,
        p50_ms=round(statistics.median(ordered), 1) if ordered else None,
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)
        if ordered
        else None,
        max_ms=round(ordered[-1], 1) if ordered else None,
    )


async def scenario(results: dict[str, Any], svc: Service, db: Database, requests: int) -> None:
    """Measure on a running service; the figures go into ``results["slow_clients"]``."""
    headers = {"Authorization": f"Bearer {svc.token}"}
    async with aiohttp.ClientSession(headers=headers) as client:
        run_id = await _large_run(client, svc, db)
        quiet = await _latency(client, svc, requests)
        async with _stalled(svc, run_id):
            stalled = await _latency(client, svc, requests)
    print(f"\nGET /api/v1/ai-judges, {STALLED} stalled uploads + {STALLED} unread exports")
    print("                 requests  timeouts (15 s)   p50 ms   p99 ms   max ms")
    for name, figure in (("no stalled client", quiet), ("24 stalled", stalled)):
        print(
            f"  {name:<17} {figure.requests:>6}  {figure.timeouts:>8}        "
            f"{figure.p50_ms!s:>8} {figure.p99_ms!s:>8} {figure.max_ms!s:>8}"
        )
    sys.stdout.flush()
    results["slow_clients"] = {"quiet": asdict(quiet), "stalled": asdict(stalled)}


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=Path(".releval/bench-slow-clients"))
    args = parser.parse_args(argv)
    token = "bench-slow-clients-token"
    results: dict[str, Any] = {}
    async with database(args.data_dir) as db, service(db, args.data_dir, token) as svc:
        await scenario(results, svc, db, args.requests)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
