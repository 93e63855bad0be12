"""What every scenario is given: the mode, the service and its API, the database, and the
steps scenarios share (an evaluation run of synthetic candidates, a judge on a simulator, a
judging run measured from outside, two replicas judging on one provider key)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bare import BareResult, bare_client
from bench.data import ndjson_chunks
from bench.harness import Database, Service, Sim, service, simulator
from bench.modes import BATCH, LATENCY_MS, Mode
from releval_judge.client.api import ApiClient
from releval_judge.models import JudgingRun
from releval_judge.sim import StatsReport


@dataclass
class RunMeasure:
    """One judging run, measured from outside."""

    total: int
    judged: int
    failed: int
    status: str
    dispatch_s: float  # started_at → finished_at, the service's own timestamps
    service_cpu_s: float
    db_cpu_s: float | None
    sim_cpu_s: float
    input_tokens: int
    output_tokens: int

    @property
    def done(self) -> int:
        return self.judged + self.failed

    @property
    def rate(self) -> float:
        return self.done / self.dispatch_s if self.dispatch_s > 0 else float("nan")

    @property
    def cpu_us_per_candidate(self) -> float:
        return 1e6 * self.service_cpu_s / max(self.done, 1)


class Bench:
    """One benchmark session: `results` collects each scenario's figures (results.json)."""

    def __init__(self, mode: Mode, api: ApiClient, svc: Service, db: Database, data_dir: Path):
        self.mode = mode
        self.api = api
        self.svc = svc
        self.db = db
        self.data_dir = data_dir
        self.results: dict[str, Any] = {}

    def sim(self, **config: Any) -> contextlib.AbstractAsyncContextManager[Sim]:
        """A simulator process: 200 ms fixed latency unless ``config`` says otherwise."""
        return simulator({"latency_ms": LATENCY_MS, "seed": 1, **config}, self.data_dir)

    async def evaluation(self, candidates: int) -> tuple[str, float]:
        """A completed evaluation run with ``candidates`` imported; (id, import seconds)."""
        return await new_evaluation(self.api, candidates, f"bench {candidates}")

    async def judge(
        self, sim: Sim, *, concurrency: int, batch_size: int = BATCH, **extra: Any
    ) -> str:
        return await new_judge(
            self.api,
            sim,
            name=f"bench c{concurrency} b{batch_size}",
            concurrency=concurrency,
            batch_size=batch_size,
            **extra,
        )

    async def judge_run(
        self, evaluation_id: str, judge_id: str, sim: Sim, *, reuse: str = "none"
    ) -> RunMeasure:
        """Start a judging run and wait for its end, metering CPU on the way. No reuse
        unless asked: the synthetic evaluations repeat the same content, and the scenarios
        measure judging (scenario 9, bench/reuse.py, measures reuse)."""
        service_cpu = self.svc.child.cpu_s()
        db_cpu = self.db.cpu_s()
        sim_cpu = sim.child.cpu_s()
        run = await self.api.start_judging_run(evaluation_id, judge_id, reuse=reuse)
        final = await self.api.watch(run.id, min_interval_s=0.25, max_interval_s=0.5)
        return measure(
            final,
            service_cpu_s=self.svc.child.cpu_s() - service_cpu,
            db_cpu_s=delta(self.db.cpu_s(), db_cpu),
            sim_cpu_s=sim.child.cpu_s() - sim_cpu,
        )

    async def run_and_bare(
        self, sim: Sim, candidates: int, concurrency: int
    ) -> tuple[RunMeasure, BareResult]:
        """A judging run of ``candidates`` new candidates at ``concurrency`` (batch
        `BATCH`), then a bare client's calls for as many batches on the same simulator."""
        evaluation_id, _ = await self.evaluation(candidates)
        judge_id = await self.judge(sim, concurrency=concurrency)
        run = await self.judge_run(evaluation_id, judge_id, sim)
        bare = await bare_client(
            sim.openai_base_url,
            calls=candidates // BATCH,
            concurrency=concurrency,
            batch_size=BATCH,
        )
        return run, bare

    async def replicas_on_one_key(
        self,
        judge_extra: dict[str, Any],
        concurrency: int,
        seconds: float,
        *,
        sim_config: dict[str, Any],
    ) -> tuple[StatsReport, int]:
        """Two service processes on one database judge for `seconds`, each with a judge of
        its own on the same provider key (`judge_extra`: its shared limits); the simulator's
        stats and the candidates judged in all."""
        replica_dir = self.data_dir / "replica-2"
        replica_dir.mkdir(parents=True, exist_ok=True)
        async with (
            self.sim(**sim_config) as sim,
            service(self.db, replica_dir, self.svc.token) as second,
            ApiClient(second.url, self.svc.token, timeout_s=7200) as api2,
        ):
            runs: list[tuple[ApiClient, str, str]] = []
            for api in (self.api, api2):
                evaluation_id, _ = await new_evaluation(
                    api, self.mode.rate_limit_candidates, "bench replicas"
                )
                judge_id = await new_judge(
                    api,
                    sim,
                    name="bench replica judge",
                    concurrency=concurrency,
                    **judge_extra,
                )
                runs.append((api, evaluation_id, judge_id))
            # Both start together, once both have their candidates.
            started = [
                (api, await api.start_judging_run(evaluation_id, judge_id, reuse="none"))
                for api, evaluation_id, judge_id in runs
            ]
            await asyncio.sleep(seconds)
            judged = 0
            for api, run in started:
                await api.cancel_judging_run(run.id)
            await until_idle(sim)
            for api, run in started:
                judged += (await api.get_judging_run(run.id)).judged
            stats = await sim.stats()
        return stats, judged


async def new_evaluation(api: ApiClient, candidates: int, name: str) -> tuple[str, float]:
    """A completed evaluation run named `name` with ``candidates`` synthetic candidates
    imported through `api`; (id, import seconds)."""
    run = await api.create_evaluation_run(
        {"name": name, "status": "completed", "scale": {"min": 0, "max": 3}}
    )
    started = time.perf_counter()
    result = await api.import_candidates(run.id, ndjson_chunks(candidates))
    seconds = time.perf_counter() - started
    assert result.imported == candidates, result
    return run.id, seconds


async def new_judge(
    api: ApiClient,
    sim: Sim,
    *,
    name: str,
    concurrency: int,
    batch_size: int = BATCH,
    **extra: Any,
) -> str:
    """A judge on `sim`'s OpenAI API (`extra`: any other field), created through `api`."""
    judge = await api.create_judge(
        {
            "name": name,
            "provider": "openai",
            "model": "bench",
            "base_url": sim.openai_base_url,
            "api_key": "sk-bench",
            "batch_size": batch_size,
            "concurrency": concurrency,
            "max_retries": 5,
            **extra,
        }
    )
    return judge.id


def measure(
    run: JudgingRun, *, service_cpu_s: float, db_cpu_s: float | None, sim_cpu_s: float
) -> RunMeasure:
    return RunMeasure(
        total=run.total,
        judged=run.judged,
        failed=run.failed,
        status=run.status,
        dispatch_s=dispatch_seconds(run),
        service_cpu_s=service_cpu_s,
        db_cpu_s=db_cpu_s,
        sim_cpu_s=sim_cpu_s,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
    )


def dispatch_seconds(run: JudgingRun) -> float:
    if run.started_at is None or run.finished_at is None:
        return float("nan")
    return (run.finished_at - run.started_at).total_seconds()


def delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


async def until_idle(sim: Sim, timeout_s: float = 60.0) -> float:
    """Wait until the simulator has no call in flight; the epoch time it was seen idle."""
    deadline = time.monotonic() + timeout_s
    while (await sim.stats()).in_flight > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return time.time()
