"""The bare-client ceiling: a plain aiohttp client, one shared session, no database, no
templates, sending the same calls at the same concurrency to the same simulator."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
import psutil

from bench.data import sample_prompt


@dataclass(frozen=True)
class BareResult:
    calls: int
    seconds: float
    cpu_s: float  # this process's user + system CPU during the calls

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_per_call_s(self) -> float:
        return self.cpu_s / self.calls


async def bare_client(
    base_url: str, *, calls: int, concurrency: int, batch_size: int
) -> BareResult:
    """``calls`` chat completions of a ``batch_size``-candidate prompt, ``concurrency`` at a
    time; each answer is read and decoded, as a real client would."""
    body = json.dumps(
        {
            "model": "bench",
            "messages": [{"role": "user", "content": sample_prompt(batch_size)}],
            "temperature": 0,
        }
    ).encode()
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}
    remaining = calls
    me = psutil.Process()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(url, data=body, headers=headers) as resp:
                payload = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"bare client: HTTP {resp.status}: {payload[:200]!r}")
                json.loads(payload)

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = me.cpu_times()
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        after = me.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return BareResult(calls=calls, seconds=seconds, cpu_s=cpu)
