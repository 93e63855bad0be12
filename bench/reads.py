"""Scenario 8, ``--only reads``: reads while a run writes (issue #25).

``READ_CLIENTS`` clients (default 64) loop over the four reads a dashboard or a script
makes (:func:`read_paths`) for ``mode.reads_s`` seconds, with nothing judging (the
reference) and while one run judges at concurrency 32 and at 128 (batch 10, the
simulator at 200 ms), in one process and with an ``api`` + a ``worker`` process. Each row:
reads/s, p50/p95/p99/max over every read, errors, the run's efficiency (candidates ÷
(``finished_at`` − ``started_at``) ÷ (concurrency × batch ÷ latency), as bench 1), and CPU
of the service process(es) and of PostgreSQL per read over the reads' window (while
judging, that CPU includes the judging's own); and the event loop's lag on the process the
reads go to (``releval_event_loop_lag_seconds`` on /metrics: how late a 20-ms timer fired,
its p99 and the share of timers over 20 ms late, by histogram bucket) with the seconds the
run's dispatch was held back meanwhile (``releval_dispatch_held_seconds_total``).

Then ``EVENT_CLIENTS`` clients (default 200) watch one run at concurrency 32 by its
server-sent events: the run's efficiency, events per client, and the database reads of
the events' shared reader (``releval_run_events_reads_total`` on /metrics), which must not
grow with the number of clients.

The clients run in this process on the same two cores: their CPU is not counted in the
service's, and is printed apart ("client µs/read"). They are lean raw HTTP/1.1 keep-alive
connections (:mod:`bench.raw_http`), so that the load generator takes as little of the two
cores as it can; ``BENCH_READ_CLIENT=aiohttp`` uses aiohttp's client instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.context import Bench, dispatch_seconds, new_evaluation, new_judge
from bench.harness import Child, Database, Sim, database, service
from bench.modes import BATCH, LATENCY_MS
from bench.raw_http import RawConnection, encode_get
from bench.report import percentile, print_progress, table
from releval_judge.client.api import API_PREFIX, ApiClient
from releval_judge.models import JudgingRun

READ_CLIENTS = 64
EVENT_CLIENTS = 200
CONCURRENCIES = (32, 128)


def read_paths(evaluation_id: str, run_id: str) -> dict[str, str]:
    """The four reads, by name: a run's progress, the runs of its evaluation, a page of the
    evaluation's judgments, the newest evaluation runs."""
    return {
        "run": f"{API_PREFIX}/ai-judging-runs/{run_id}",
        "runs": f"{API_PREFIX}/evaluations/runs/{evaluation_id}/ai-judging-runs",
        "judgments": f"{API_PREFIX}/evaluations/runs/{evaluation_id}/judgments?limit=50",
        "evaluations": f"{API_PREFIX}/evaluations/runs?limit=20",
    }


@dataclass
class ReadLoad:
    """What the clients saw: latencies (ms) by read, errors, the window's length."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    @property
    def all_ms(self) -> list[float]:
        return [ms for values in self.latencies.values() for ms in values]


async def read_load(
    base_url: str, token: str, paths: dict[str, str], *, clients: int, until: asyncio.Event
) -> ReadLoad:
    """`clients` clients, each looping over `paths` (from a different one) until `until`
    is set; a non-200 answer or a failed request is an error. The clients are
    :mod:`bench.raw_http` connections (``BENCH_READ_CLIENT=aiohttp``: aiohttp's)."""
    load = ReadLoad(latencies={name: [] for name in paths})
    names = list(paths)
    headers = {"Authorization": f"Bearer {token}"}

    async def loop(index: int, get: Callable[[str], Awaitable[int]]) -> None:
        turn = index
        while not until.is_set():
            name = names[turn % len(names)]
            turn += 1
            started = time.perf_counter()
            try:  # (a read over 30 s is a TimeoutError, an OSError)
                ok = await asyncio.wait_for(get(name), 30) == 200
            except (aiohttp.ClientError, OSError, ValueError, asyncio.IncompleteReadError):
                ok = False
            if ok:
                load.latencies[name].append(1000 * (time.perf_counter() - started))
            else:
                load.errors += 1

    started = time.perf_counter()
    if os.environ.get("BENCH_READ_CLIENT", "raw") == "aiohttp":
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def aiohttp_get(name: str) -> int:
                async with session.get(base_url + paths[name], headers=headers) as resp:
                    await resp.read()
                    return resp.status

            await asyncio.gather(*(loop(i, aiohttp_get) for i in range(clients)))
    else:
        requests = {name: encode_get(base_url, path, headers) for name, path in paths.items()}

        async def raw_client(index: int) -> None:
            connection: RawConnection | None = None

            async def get(name: str) -> int:
                # A request that failed half-way leaves its connection unusable: the next
                # one opens another.
                nonlocal connection
                if connection is None:
                    connection = await RawConnection.open(base_url)
                used, connection = connection, None
                status = await used.get(requests[name])
                connection = used
                return status

            try:
                await loop(index, get)
            finally:
                if connection is not None:
                    await connection.close()

        await asyncio.gather(*(raw_client(i) for i in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


@dataclass
class Topology:
    """Where the reads go (`api`) and what to meter: the service's processes, the database."""

    name: str
    api: ApiClient
    url: str
    token: str
    processes: list[Child]
    db: Database

    def cpu(self) -> tuple[float, float | None]:
        return sum(p.cpu_s() for p in self.processes), self.db.cpu_s()


LAG_LATE_S = 0.02
"""A timer fired later than this counts as late (the loop stalled for a read's worth and more)."""


@dataclass(frozen=True)
class LoopLag:
    """The cumulative ``releval_event_loop_lag_seconds`` buckets (upper bound → count) and
    ``releval_dispatch_held_seconds_total`` of one process, at one moment."""

    buckets: dict[float, float]
    held_s: float

    def since(self, before: LoopLag) -> dict[str, float | None]:
        """Over the window from `before`: the lag's p99 (the upper bound of its bucket, ms),
        the share of timers later than :data:`LAG_LATE_S`, and the seconds held."""
        counts = {le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()}
        total = counts.get(float("inf"), 0.0)
        if total <= 0:
            return {"lag_p99_ms": None, "lag_late_share": None, "held_s": None}
        p99 = next(le for le, n in sorted(counts.items()) if n >= 0.99 * total)
        on_time = counts.get(LAG_LATE_S, 0.0)
        return {
            "lag_p99_ms": 1000 * p99,
            "lag_late_share": 1 - on_time / total,
            "held_s": self.held_s - before.held_s,
        }


async def loop_lag(url: str) -> LoopLag | None:
    """The service's loop lag and dispatch held (None: a service without the histogram)."""
    buckets: dict[float, float] = {}
    held = 0.0
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            series, _, value = line.rpartition(" ")
            if series.startswith("releval_event_loop_lag_seconds_bucket{"):
                buckets[float(series.partition('le="')[2].partition('"')[0])] = float(value)
            elif series == "releval_dispatch_held_seconds_total":
                held = float(value)
    return LoopLag(buckets, held) if buckets else None


async def scenario(
    bench: Bench, *, clients: int = READ_CLIENTS, event_clients: int = EVENT_CLIENTS
) -> None:
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    one = Topology(
        "one process", bench.api, bench.svc.url, bench.svc.token, [bench.svc.child], bench.db
    )
    async with bench.sim() as sim:
        rows += await _topology_rows(bench, one, sim, clients)
        events.append(await _events_row(bench, one, sim, event_clients))
    async with _split(bench) as split, bench.sim() as sim:
        rows += await _topology_rows(bench, split, sim, clients)
    bench.results["reads"] = {"clients": clients, "rows": rows, "events": events}
    _print(rows, events, clients)


@contextlib.asynccontextmanager
async def _split(bench: Bench) -> AsyncIterator[Topology]:
    """An ``api`` and a ``worker`` process on a database of their own (as bench 1b)."""
    split_dir = bench.data_dir / "reads-split"
    split_dir.mkdir(parents=True, exist_ok=True)
    token = bench.svc.token
    async with (
        database(split_dir, "_reads") as db,
        service(db, split_dir / "api", token, role="api") as api_svc,
        service(db, split_dir / "worker", token, role="worker") as worker_svc,
        ApiClient(api_svc.url, token, timeout_s=7200) as api,
    ):
        yield Topology(
            "api + worker", api, api_svc.url, token, [api_svc.child, worker_svc.child], db
        )


async def _topology_rows(
    bench: Bench, top: Topology, sim: Sim, clients: int
) -> list[dict[str, Any]]:
    seconds = bench.mode.reads_s
    rows: list[dict[str, Any]] = []
    for concurrency in CONCURRENCIES:
        ideal = concurrency * BATCH / (LATENCY_MS / 1000)
        # Enough candidates for the run to outlast the reads at the provider's pace.
        candidates = int(ideal * (seconds + 3) / 1000 + 1) * 1000
        evaluation_id, _ = await new_evaluation(top.api, candidates, f"bench reads c{concurrency}")
        judge_id = await new_judge(
            top.api, sim, name=f"bench reads c{concurrency}", concurrency=concurrency
        )
        run = await top.api.start_judging_run(evaluation_id, judge_id, reuse="none")
        await _until(top.api, run.id, lambda r: r.status != "queued")
        paths = read_paths(evaluation_id, run.id)
        row = await _measure(
            top, paths, seconds, clients, f"judging c={concurrency}", run_id=run.id
        )
        final = await top.api.watch(run.id, min_interval_s=0.25, max_interval_s=0.5)
        rate = (final.judged + final.failed) / max(dispatch_seconds(final), 1e-9)
        row.update(concurrency=concurrency, candidates=candidates, efficiency=rate / ideal)
        rows.append(row)
        print_progress(
            f"reads {top.name} c={concurrency}: {row['reads_per_s']:.0f}/s, "
            f"p99 {row['p99_ms']:.0f} ms, run {row['efficiency']:.3f}"
        )
        if concurrency == CONCURRENCIES[0]:
            # The reference: the same reads of the same (now ended) run, nothing judging.
            idle = await _measure(top, paths, seconds, clients, "nothing judging", run_id=None)
            rows.append(idle)
            print_progress(f"reads {top.name} idle: {idle['reads_per_s']:.0f}/s")
    return rows


async def _measure(
    top: Topology,
    paths: dict[str, str],
    seconds: float,
    clients: int,
    what: str,
    *,
    run_id: str | None,
) -> dict[str, Any]:
    """`clients` clients for `seconds` (or until the run `run_id` ends)."""
    stop = asyncio.Event()
    lag_before = await loop_lag(top.url)
    service_cpu, db_cpu = top.cpu()
    client_cpu = time.process_time()  # this process: the clients (and a poll of the run)
    reads = asyncio.create_task(read_load(top.url, top.token, paths, clients=clients, until=stop))
    ended_early = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
        if run_id is not None and not (await top.api.get_judging_run(run_id)).active:
            ended_early = True
            break
    stop.set()
    load = await reads
    service_after, db_after = top.cpu()
    client_after = time.process_time()
    lag_after = await loop_lag(top.url)
    lag: dict[str, float | None] = (
        lag_after.since(lag_before)
        if lag_before is not None and lag_after is not None
        else {"lag_p99_ms": None, "lag_late_share": None, "held_s": None}
    )
    count = max(len(load.all_ms), 1)
    return {
        "topology": top.name,
        "what": what,
        "seconds": load.seconds,
        "ended_early": ended_early,
        "reads": len(load.all_ms),
        "reads_per_s": len(load.all_ms) / load.seconds,
        "p50_ms": percentile(load.all_ms, 0.5),
        "p95_ms": percentile(load.all_ms, 0.95),
        "p99_ms": percentile(load.all_ms, 0.99),
        "max_ms": max(load.all_ms, default=float("nan")),
        "p50_by_read_ms": {k: percentile(v, 0.5) for k, v in load.latencies.items()},
        "errors": load.errors,
        "service_cpu_us_per_read": 1e6 * (service_after - service_cpu) / count,
        "client_cpu_us_per_read": 1e6 * (client_after - client_cpu) / count,
        "db_cpu_us_per_read": None
        if db_after is None or db_cpu is None
        else 1e6 * (db_after - db_cpu) / count,
        "service_cores": (service_after - service_cpu) / load.seconds,
        "db_cores": None
        if db_after is None or db_cpu is None
        else (db_after - db_cpu) / load.seconds,
        **lag,
    }


async def _until(api: ApiClient, run_id: str, done: Callable[[JudgingRun], bool]) -> JudgingRun:
    while not done(run := await api.get_judging_run(run_id)):
        await asyncio.sleep(0.05)
    return run


async def _events_row(bench: Bench, top: Topology, sim: Sim, clients: int) -> dict[str, Any]:
    """`clients` event streams on one run at concurrency 32 while it judges."""
    concurrency = 32
    seconds = bench.mode.reads_s
    ideal = concurrency * BATCH / (LATENCY_MS / 1000)
    candidates = int(ideal * (seconds + 3) / 1000 + 1) * 1000
    evaluation_id, _ = await new_evaluation(top.api, candidates, "bench events")
    judge_id = await new_judge(top.api, sim, name="bench events", concurrency=concurrency)
    reads_before = await event_reads(top.url)
    run = await top.api.start_judging_run(evaluation_id, judge_id, reuse="none")
    stop = asyncio.Event()
    counts = [0] * clients
    url = f"{top.url}{API_PREFIX}/ai-judging-runs/{run.id}/events"
    watchers = asyncio.gather(*(_watch(url, top.token, counts, i, stop) for i in range(clients)))
    final = await top.api.watch(run.id, min_interval_s=0.25, max_interval_s=0.5)
    stop.set()
    await watchers
    reads_after = await event_reads(top.url)
    run_s = dispatch_seconds(final)
    rate = (final.judged + final.failed) / max(run_s, 1e-9)
    row = {
        "topology": top.name,
        "clients": clients,
        "concurrency": concurrency,
        "candidates": candidates,
        "efficiency": rate / ideal,
        "events_min": min(counts),
        "events_max": max(counts),
        "run_s": run_s,
        "reader_reads": None
        if reads_before is None or reads_after is None
        else reads_after - reads_before,
    }
    print_progress(f"events {clients} clients: run {row['efficiency']:.3f}")
    return row


async def _watch(url: str, token: str, counts: list[int], index: int, stop: asyncio.Event) -> None:
    """Read one run's event stream (reconnecting when the server closes it) until the run's
    ``end`` event or `stop`; count the events."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            try:
                async with session.get(url, headers=headers) as resp:
                    async for line in resp.content:
                        if line.startswith(b"event:"):
                            counts[index] += 1
                            if line.strip() == b"event: end":
                                return
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(1.0)


async def event_reads(url: str) -> float | None:
    """``releval_run_events_reads_total`` on the service's /metrics (None: not exposed)."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("releval_run_events_reads_total"):
                return float(line.rpartition(" ")[2])
    return None


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _print(rows: list[dict[str, Any]], events: list[dict[str, Any]], clients: int) -> None:
    table(
        f"8. {clients} clients looping over 4 reads ({LATENCY_MS:.0f} ms, batch {BATCH}); "
        "CPU per read includes the judging's",
        [
            "topology",
            "what",
            "reads/s",
            "p50",
            "p95",
            "p99",
            "max ms",
            "errors",
            "run eff",
            "svc µs/read",
            "pg µs/read",
            "client µs/read",
            "lag p99 ≤ ms",
            "lag >20 ms",
            "held s",
            "p50 run/runs/judgments/evaluations",
        ],
        [
            [
                r["topology"],
                r["what"] + (" (run ended)" if r["ended_early"] else ""),
                f"{r['reads_per_s']:.0f}",
                _ms(r["p50_ms"]),
                _ms(r["p95_ms"]),
                _ms(r["p99_ms"]),
                _ms(r["max_ms"]),
                r["errors"],
                f"{r['efficiency']:.3f}" if "efficiency" in r else "-",
                f"{r['service_cpu_us_per_read']:.0f}",
                "-" if r["db_cpu_us_per_read"] is None else f"{r['db_cpu_us_per_read']:.0f}",
                f"{r['client_cpu_us_per_read']:.0f}",
                "-" if r.get("lag_p99_ms") is None else f"{r['lag_p99_ms']:.0f}",
                "-" if r.get("lag_late_share") is None else f"{100 * r['lag_late_share']:.1f}%",
                "-" if r.get("held_s") is None else f"{r['held_s']:.1f}",
                " / ".join(_ms(v) for v in r["p50_by_read_ms"].values()),
            ]
            for r in rows
        ],
    )
    table(
        "8b. Clients watching one run by its events (c = 32)",
        ["topology", "clients", "run eff", "events/client", "reader's reads", "run s"],
        [
            [
                e["topology"],
                e["clients"],
                f"{e['efficiency']:.3f}",
                f"{e['events_min']}–{e['events_max']}",
                "-" if e["reader_reads"] is None else f"{e['reader_reads']:.0f}",
                f"{e['run_s']:.1f}",
            ]
            for e in events
        ],
    )
