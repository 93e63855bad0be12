"""The answer cap's figure (docs/security.md, "Answer cap"): how much the service's
resident memory rises while a provider answers 600 MB (streamed, chunked, no
Content-Length: the worst case), to a judge test and to a judging run. Target < 300 MB.

    .venv/bin/python -m bench.answer_cap [--mb 600]     # its own database and service
    .venv/bin/python -m bench.run --only answer_cap      # the same, as a bench scenario

The rise is the service process's peak RSS during the call (psutil, sampled every 10 ms,
and the kernel's own high-water mark VmHWM, reset first, where Linux has it) minus its RSS
just before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.harness import Child, RssSampler, Service, database, free_port, service
from releval_judge.client.api import ApiClient
from releval_judge.secrets import new_token

MB = 1024 * 1024


class Flood:
    """A chat completions endpoint answering `size` bytes of JSON, 1 MB at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.port = free_port()
        self.requests = 0
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> Flood:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._answer)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests += 1
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        filler = b"x" * MB
        with contextlib.suppress(ConnectionError, RuntimeError):  # the service hung up
            await response.write(b'{"choices":[{"message":{"content":"')
            for _ in range(self.size // MB):
                await response.write(filler)
            await response.write(b'"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}')
        return response


@contextlib.asynccontextmanager
async def peak_rise(child: Child) -> AsyncIterator[dict[str, Any]]:
    """Yields a dict that holds, once the block is done, the RSS rise in MB."""
    pid = child.ps.pid
    _reset_high_water_mark(pid)
    figures: dict[str, Any] = {}
    before = child.rss_bytes()
    async with RssSampler(child, interval_s=0.01) as sampler:
        yield figures
    figures["rss_rise_mb"] = (sampler.peak - before) / MB
    high = _high_water_mark(pid)
    if high is not None:
        figures["hwm_rise_mb"] = (high - before) / MB


def _reset_high_water_mark(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: VmHWM = VmRSS


def _high_water_mark(pid: int) -> int | None:
    """The kernel's peak RSS of the process (VmHWM), in bytes, where Linux tells it."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


async def measure(api: ApiClient, svc: Service, *, answer_mb: int = 600) -> dict[str, Any]:
    """The RSS rise for an `answer_mb` answer to a judge test, and to a run of 4 batches
    (concurrency 2: two such answers at once)."""
    async with Flood(answer_mb * MB) as flood:
        judge = await api.create_judge(
            {
                "name": "answer cap bench",
                "provider": "openai",
                "model": "flood",
                "base_url": f"http://127.0.0.1:{flood.port}/v1",
                "batch_size": 5,
                "concurrency": 2,
                "max_retries": 0,
            }
        )
        test_body = {"query": "q", "candidates": [{"text": "a document"}]}
        async with peak_rise(svc.child) as judge_test:
            began = time.perf_counter()
            answer = await api.request("POST", f"/ai-judges/{judge.id}/test", json=test_body)
            judge_test["seconds"] = time.perf_counter() - began
        judge_test["error"] = answer["calls"][0]["error"]
        evaluation = await api.create_evaluation_run(
            {
                "name": "answer cap bench",
                "status": "completed",
                "scale": {"min": 0, "max": 3},
                "queries": [
                    {
                        "query_id": f"q{q}",
                        "text": f"query {q}",
                        "candidates": [
                            {"doc_id": f"d{q}-{r}", "rank": r, "text": "a document"}
                            for r in range(1, 6)
                        ],
                    }
                    for q in range(4)
                ],
            }
        )
        async with peak_rise(svc.child) as run_figures:
            run = await api.start_judging_run(evaluation.id, judge.id, reuse="none")
            while run.status in ("queued", "running"):
                await asyncio.sleep(0.1)
                run = await api.get_judging_run(run.id)
        run_figures.update(status=run.status, failed=run.failed, calls=flood.requests - 1)
    results = {"answer_mb": answer_mb, "judge_test": judge_test, "run": run_figures}
    for name, figures in (("judge test", judge_test), (f"run, {run.failed} failed", run_figures)):
        rise = max(figures["rss_rise_mb"], figures.get("hwm_rise_mb", 0.0))
        print(f"  {answer_mb} MB answer to a {name}: service RSS rise {rise:.0f} MB (< 300)")
    return results


async def scenario(results: dict[str, Any], api: ApiClient, svc: Service) -> None:
    """`python -m bench.run --only answer_cap`: the figures go in results["answer_cap"]."""
    print("\nAnswer cap: the service's RSS rise while a provider answers 600 MB")
    results["answer_cap"] = await measure(api, svc)


async def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answer_cap", description=__doc__)
    parser.add_argument("--mb", type=int, default=600, help="size of the provider's answer")
    parser.add_argument("--data-dir", type=Path, default=Path(".releval/bench"))
    args = parser.parse_args()
    token = new_token()
    async with (
        database(args.data_dir, "_answer_cap") as db,
        service(db, args.data_dir, token) as svc,
        ApiClient(svc.url, token, timeout_s=600) as api,
    ):
        cap = os.environ.get("RELEVAL_MAX_ANSWER_BYTES", "16777216 (the default)")
        print(f"answer cap: a provider answering {args.mb} MB; RELEVAL_MAX_ANSWER_BYTES={cap}")
        await measure(api, svc, answer_mb=args.mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
