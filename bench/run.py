"""The benchmarks (``make bench``, ``make bench-quick``): figures, never a pass/fail.

Runs the service (``python -m releval_judge serve``, a real process on an embedded
PostgreSQL — or RELEVAL_DATABASE_URL's server, in a database of its own that is dropped
at the end) against the provider simulator (``releval-judge sim``, a process of its own,
restarted for each configuration), and measures (docs/benchmarks.md says how):

1. efficiency: achieved candidates/s ÷ ideal (concurrency × batch ÷ latency) at 200 ms,
   batch 10, concurrency 8/32/128 — also against a bare aiohttp client's ceiling on the
   same simulator, and as the service's CPU per candidate;
2. the service's CPU per judged candidate at zero latency (and the database's);
3. a 1,000,000-candidate run (quick: 50,000): import time and throughput, the service's
   peak memory while importing and while judging, the start call's latency, and
   p50/p99 of ``GET /ai-judging-runs/{id}`` while the run goes on;
4. cancel: provider calls started after the cancel response (must be 0), and how long
   until the calls in flight are done;
5. rate limits against a simulator limit of 600 requests a minute, with the judge's
   ``requests_per_minute`` set and with adaptation alone;
5b. two replicas on one provider key with a ``key_concurrency`` budget: the provider's peak
   of calls in flight and how busy the budget kept the key;
6. input tokens per judgment with the default template, batch 1 vs batch 10;
7. GET latency while 24 clients stall (bench/slow_clients.py);
8. reads while a run writes: 64 clients over four reads, idle and judging at 32 and 128,
   one process and api + worker; 200 clients on one run's event stream (bench/reads.py).
9. reuse by fingerprint: the next ranker's run (calls, shared candidates sent, cost), and
   the look-up's overhead on a 1,000,000-candidate run with nothing to reuse (quick:
   100,000) (bench/reuse.py).
10. audit: the calls of an audit of 100 candidates against judging them (bench/audit.py).

Prints tables and writes ``bench/results.json``. Medians of several runs where cheap
(the number of runs is printed as n). Usage: ``python -m bench.run [--quick] [--only
efficiency,cancel,…]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    answer_cap,
    audit,
    big,
    cancel,
    cost,
    cpu,
    efficiency,
    key_concurrency,
    rate_limits,
    reads,
    reuse,
    roles,
    slow_clients,
    tokens,
)
from bench.context import Bench
from bench.harness import database, service
from bench.modes import FULL, QUICK
from releval_judge.client.api import ApiClient
from releval_judge.secrets import new_token

SCENARIOS = (
    "efficiency",
    "roles",
    "cpu",
    "big",
    "cancel",
    "rate_limits",
    "key_concurrency",
    "tokens",
    "cost",
    "answer_cap",
    "slow_clients",
    "reads",
    "reuse",
    "audit",
)


async def _step(name: str, bench: Bench, args: argparse.Namespace) -> None:
    """Run the scenario called `name`; its figures go in ``bench.results``."""
    scenarios = {
        "efficiency": efficiency,
        "roles": roles,
        "cpu": cpu,
        "big": big,
        "cancel": cancel,
        "rate_limits": rate_limits,
        "key_concurrency": key_concurrency,
        "tokens": tokens,
        "cost": cost,
        "reuse": reuse,
        "audit": audit,
    }
    if name == "answer_cap":
        await answer_cap.scenario(bench.results, bench.api, bench.svc)
    elif name == "reads":
        await reads.scenario(bench, clients=args.read_clients, event_clients=args.event_clients)
    elif name == "slow_clients":
        await slow_clients.scenario(bench.results, bench.svc, bench.db, requests=100)
    else:
        await scenarios[name].scenario(bench)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the under-two-minutes version")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument("--output", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--read-clients", type=int, default=reads.READ_CLIENTS, help="clients of bench 8"
    )
    parser.add_argument(
        "--event-clients", type=int, default=reads.EVENT_CLIENTS, help="event clients of bench 8"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".releval/bench"))
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")

    from releval_judge.logs import configure_logging

    configure_logging("console", "warning")
    print(
        f"releval-judge benchmarks ({mode.name}) on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    began = time.perf_counter()
    started_at = datetime.now(UTC).isoformat()
    load_before = os.getloadavg()[0]
    token = new_token()
    async with (
        database(args.data_dir) as db,
        service(db, args.data_dir, token) as svc,
        ApiClient(svc.url, token, timeout_s=7200) as api,
    ):
        bench = Bench(mode, api, svc, db, args.data_dir)
        for name in SCENARIOS:
            if name in chosen:
                await _step(name, bench, args)
    elapsed = time.perf_counter() - began
    results = {
        "meta": {
            "mode": mode.name,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "database": "RELEVAL_DATABASE_URL"
            if "RELEVAL_DATABASE_URL" in os.environ
            else "embedded",
            "started_at": started_at,
            # Other work on the machine skews every figure: the 1-minute load at the start.
            "load_average_at_start": load_before,
            "elapsed_s": elapsed,
            "mode_settings": {k: v for k, v in asdict(mode).items() if not callable(v)},
        },
        **bench.results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{elapsed:.0f} s in all; figures in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
