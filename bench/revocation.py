"""How long a revoked token keeps working on another replica (docs/security.md, "Scopes and
tokens"; target < 5 s): a figure, never a pass/fail.

Two service processes (``serve``) on one database. Each round: a new token through
replica A's token API, used once on both replicas (so each holds it in its cache, the
worst case), revoked through A; replica B is then asked every 10 ms until it answers 401.
The time from A's 204 to B's first 401 is the figure; A itself is asked once right after
its 204 (it forgets the token at once). Usage: ``python -m bench.revocation [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench.harness import database, service

STATIC_TOKEN = "bench-revocation-token"
POLL_S = 0.01


async def _status(session: aiohttp.ClientSession, url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(url + "/api/v1/ai-judges", headers=headers) as resp:
        await resp.read()
        return resp.status


async def _round(session: aiohttp.ClientSession, a: str, b: str) -> tuple[float, int]:
    """Seconds until B refuses the token A revoked, and what A answered right after."""
    admin = {"Authorization": f"Bearer {STATIC_TOKEN}"}
    body = {"name": "bench revocation", "scopes": ["read"]}
    async with session.post(a + "/api/v1/tokens", json=body, headers=admin) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    token = created["token"]
    assert await _status(session, a, token) == 200
    assert await _status(session, b, token) == 200
    async with session.delete(a + f"/api/v1/tokens/{created['id']}", headers=admin) as resp:
        assert resp.status == 204, await resp.text()
    revoked = time.monotonic()
    at_a = await _status(session, a, token)
    while await _status(session, b, token) != 401:
        await asyncio.sleep(POLL_S)
    return time.monotonic() - revoked, at_a


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revocation", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="releval-revocation-") as tmp:
        data = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            db = await stack.enter_async_context(database(data / "db"))
            a = await stack.enter_async_context(service(db, data / "a", STATIC_TOKEN))
            b = await stack.enter_async_context(service(db, data / "b", STATIC_TOKEN))
            async with aiohttp.ClientSession() as session:
                results = [await _round(session, a.url, b.url) for _ in range(args.rounds)]
    seconds = [s for s, _ in results]
    print(f"revocation seen by the other replica, n={len(seconds)}:")
    print(
        f"  median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s, "
        f"min {min(seconds):.2f} s"
    )
    print(f"  the revoking replica right after its 204: {sorted({s for _, s in results})}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
