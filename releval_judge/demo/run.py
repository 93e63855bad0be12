"""``releval-judge demo`` (``make demo``): a whole AI judging run, end to end, in a minute.

It starts an embedded PostgreSQL (or uses ``RELEVAL_DATABASE_URL``), the provider
simulator (in this process) and the service (``python -m releval_judge serve`` as a child
process, on a free port, with a generated token); loads the bundled sample evaluation run
with its human judgments; creates a judge; starts a judging run through the REST API;
shows its progress; and prints a summary and where to look next. With ``OPENAI_API_KEY``
or ``ANTHROPIC_API_KEY`` set, a real model judges instead of the simulator.
Everything it started is stopped at the end (or on Ctrl-C), unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from aiohttp import web

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.client.progress import ProgressPrinter, format_count, format_duration, use_color
from releval_judge.demo.sample import SampleRun, sample_run
from releval_judge.models import JudgingRun
from releval_judge.secrets import new_token

ProviderChoice = Literal["auto", "sim", "openai", "anthropic"]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_VARIABLES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
SERVICE_START_TIMEOUT_S = 120.0
SERVICE_STOP_TIMEOUT_S = 20.0


# How long the simulator takes to end a provider batch in the demo.
SIM_BATCH_S = 4.0
# With replicas, a short lease so that the takeover after the kill shows within seconds.
DEMO_LEASE_TTL_S = 6.0


async def lease_owner(database_url: str, judging_run_id: str) -> str | None:
    """Which replica holds the run's lease (read from the database, as an operator would)."""
    from releval_judge.store.database import create_pool
    from releval_judge.store.store import Store

    pool = await create_pool(database_url, size=2)
    try:
        return await Store(pool).lease_owner(judging_run_id)
    finally:
        await pool.close()


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the CLI's subparsers."""
    demo = subparsers.add_parser(
        "demo",
        help="run a whole AI judging run end to end on a bundled sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--sample",
        choices=["full", "small"],
        default="full",
        help="full: 30 queries, 300 candidates (default); small: 5 queries, 50 candidates",
    )
    demo.add_argument(
        "--provider",
        choices=["auto", "sim", "openai", "anthropic"],
        default="auto",
        help="auto (default): OpenAI if OPENAI_API_KEY is set, else Anthropic if "
        "ANTHROPIC_API_KEY is set, else the simulator",
    )
    demo.add_argument("--model", help="model for a real provider (default: a small, cheap one)")
    demo.add_argument(
        "--latency-ms",
        type=float,
        default=500.0,
        help="the simulator's median latency per call (default 500)",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded database folder (default: $RELEVAL_DATA_DIR, else .releval/demo)",
    )
    demo.add_argument(
        "--batch",
        action="store_true",
        help="deliver through the provider's batch API (judge delivery 'batch'): the "
        "simulator ends its batch in a few seconds; a real provider within 24 h, at half price",
    )
    demo.add_argument(
        "--replicas",
        type=int,
        choices=[1, 2, 3],
        default=1,
        help="serve from this many replicas on the one database; with 2 or more, the "
        "replica judging the run is killed (SIGKILL) part-way and another takes it over",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the service and the simulator running afterwards, until Ctrl-C",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo described by ``args``; returns the exit code (0: the run completed)."""
    from releval_judge.logs import configure_logging

    configure_logging("console", "warning")
    # pgserver asks platformdirs for a runtime folder, which warns on headless machines.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        return asyncio.run(Demo(args).main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything the demo started has been stopped", file=sys.stderr)
        return 130


# --- output ------------------------------------------------------------------------------


class Screen:
    """What the demo prints, with a little colour on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.color = use_color(stream)

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self.style(text, "1")

    def dim(self, text: str) -> str:
        return self.style(text, "2")

    def say(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def step(self, label: str, text: str) -> None:
        self.say(f"  {self.style('▸', '36')} {label:<13} {text}")

    def heading(self, text: str) -> None:
        self.say()
        self.say(self.bold(text))


# --- the provider ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderPlan:
    kind: Literal["sim", "openai", "anthropic"]
    model: str

    @property
    def real(self) -> bool:
        return self.kind != "sim"


def choose_provider(
    choice: ProviderChoice, model: str | None, environ: Mapping[str, str]
) -> ProviderPlan:
    """Which provider judges: the one asked for, or in ``auto`` the first whose key is set."""
    kind: Literal["sim", "openai", "anthropic"]
    if choice == "auto":
        kind = "openai" if environ.get(KEY_VARIABLES["openai"]) else "sim"
        if kind == "sim" and environ.get(KEY_VARIABLES["anthropic"]):
            kind = "anthropic"
    else:
        kind = choice
    if kind == "sim":
        return ProviderPlan("sim", model or "releval-sim-1")
    if not environ.get(KEY_VARIABLES[kind]):
        raise DemoError(f"--provider {kind} needs {KEY_VARIABLES[kind]} in the environment")
    return ProviderPlan(kind, model or DEFAULT_MODELS[kind])


class DemoError(Exception):
    """Something the user can fix; the message says what."""


# --- the services it starts --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.asynccontextmanager
async def embedded_database(data_dir: Path) -> AsyncIterator[str]:
    """An embedded PostgreSQL in ``data_dir`` for the demo's lifetime; yields its URL."""
    from releval_judge.store.database import EmbeddedPostgres

    embedded = EmbeddedPostgres(data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def simulator(latency_ms: float) -> AsyncIterator[tuple[int, web.AppRunner]]:
    """The provider simulator in this process, with a few faults on purpose: about one
    answer in ten drops a candidate, and one call in twenty answers 503 (retried). Its
    batch APIs end a batch in SIM_BATCH_S."""
    from releval_judge.sim import SimConfig, run_sim

    config = SimConfig(
        batch_completion_s=SIM_BATCH_S,
        latency_ms=latency_ms,
        latency_p99_ms=latency_ms * 3 if latency_ms > 0 else None,
        error_rate_fewer=0.1,
        error_rate_503=0.05,
        seed=7,
    )
    runner, port = await run_sim(config, port=0)
    try:
        yield port, runner
    finally:
        await runner.cleanup()


@dataclass
class ServiceProcess:
    process: asyncio.subprocess.Process
    url: str
    log_path: Path


@contextlib.asynccontextmanager
async def service_process(
    *,
    database_url: str,
    data_dir: Path,
    token: str,
    log_path: Path,
    batch_poll_s: float = 30.0,
    lease_ttl_s: float | None = None,
    provider_allow: str | None = None,
) -> AsyncIterator[ServiceProcess]:
    """``python -m releval_judge serve`` on a free port; stopped with SIGTERM at the end
    (killed if it does not stop within SERVICE_STOP_TIMEOUT_S). ``provider_allow`` is
    added to the environment's RELEVAL_PROVIDER_ALLOW (the simulator the demo started)."""
    port = free_port()
    env = {
        **os.environ,
        "RELEVAL_HOST": "127.0.0.1",
        "RELEVAL_PORT": str(port),
        "RELEVAL_API_TOKENS": token,
        "RELEVAL_DATABASE_URL": database_url,
        "RELEVAL_DATA_DIR": str(data_dir),
        "RELEVAL_ROOT_PATH": "",
        "RELEVAL_LOG_FORMAT": "json",
        "RELEVAL_SHUTDOWN_GRACE_S": "5",
        "RELEVAL_BATCH_POLL_S": str(batch_poll_s),
    }
    if provider_allow:
        allowed = os.environ.get("RELEVAL_PROVIDER_ALLOW", "")
        env["RELEVAL_PROVIDER_ALLOW"] = ",".join(a for a in (allowed, provider_allow) if a)
    if lease_ttl_s is not None:
        # Replicas: a killed one's run is taken over once its lease expires.
        env["RELEVAL_LEASE_TTL_S"] = str(lease_ttl_s)
        env["RELEVAL_CLAIM_INTERVAL_S"] = "1"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "releval_judge",
            "serve",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        yield service
    finally:
        await stop_process(process, SERVICE_STOP_TIMEOUT_S)


async def stop_process(process: asyncio.subprocess.Process, timeout_s: float) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_until_ready(api: ApiClient, service: ServiceProcess) -> None:
    """Wait for ``/readyz``; fail early, with the service's last log lines, if it exits."""
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while not await api.ready():
        if service.process.returncode is not None:
            raise DemoError(
                f"the service exited with code {service.process.returncode} while starting; "
                f"last lines of {service.log_path}:\n{log_tail(service.log_path)}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"the service was not ready within {SERVICE_START_TIMEOUT_S:g} s; "
                f"see {service.log_path}"
            )
        await asyncio.sleep(0.1)


# --- the demo ----------------------------------------------------------------------------


class Demo:
    def __init__(self, args: argparse.Namespace, stream: TextIO | None = None) -> None:
        self.args = args
        self.screen = Screen(stream if stream is not None else sys.stdout)
        self.sample: SampleRun = sample_run(args.sample)
        self.data_dir: Path = args.data_dir or Path(
            os.environ.get("RELEVAL_DATA_DIR") or ".releval/demo"
        )
        self.external_database = os.environ.get("RELEVAL_DATABASE_URL") or os.environ.get(
            "DATABASE_URL"
        )
        self.plan = ProviderPlan("sim", "releval-sim-1")

    async def main(self) -> int:
        screen = self.screen
        try:
            self.plan = plan = choose_provider(self.args.provider, self.args.model, os.environ)
        except DemoError as exc:
            print(f"releval-judge demo: {exc}", file=sys.stderr)
            return 2
        screen.say()
        screen.say(
            screen.bold("releval-judge demo")
            + " — an AI judge grades every result of a sample search evaluation"
        )
        screen.say()
        try:
            async with contextlib.AsyncExitStack() as stack:
                return await self._run(stack, plan)
        except DemoError as exc:
            screen.say()
            print(f"releval-judge demo: {exc}", file=sys.stderr)
            return 1

    async def _run(self, stack: contextlib.AsyncExitStack, plan: ProviderPlan) -> int:
        screen = self.screen
        if self.external_database:
            database_url = self.external_database
            screen.step("database", "RELEVAL_DATABASE_URL")
        else:
            first_time = not (self.data_dir / "pgdata").exists()
            screen.step(
                "database",
                f"embedded PostgreSQL in {self.data_dir}"
                + (screen.dim("  (the first start takes a few seconds)") if first_time else ""),
            )
            database_url = await stack.enter_async_context(embedded_database(self.data_dir))

        judge_body = self._judge_body(plan)
        provider_allow: str | None = None
        if plan.real:
            screen.step(
                "provider",
                f"{plan.kind} · {plan.model}  "
                + screen.dim(
                    f"({KEY_VARIABLES[plan.kind]} is set; --provider sim uses the simulator; "
                    f"about {self._token_estimate()} tokens)"
                ),
            )
        else:
            sim_port, _ = await stack.enter_async_context(simulator(self.args.latency_ms))
            judge_body["base_url"] = f"http://127.0.0.1:{sim_port}/v1"
            # The outbound policy refuses loopback: the service may reach this one only.
            provider_allow = f"127.0.0.1:{sim_port}"
            screen.step(
                "provider",
                f"simulator on http://127.0.0.1:{sim_port}/v1  "
                + screen.dim("(no API key needed; set OPENAI_API_KEY to use OpenAI)"),
            )

        token = new_token()
        replicas = self.args.replicas
        services: list[ServiceProcess] = []
        apis: list[ApiClient] = []
        for n in range(replicas):
            name = "demo-service.log" if n == 0 else f"demo-service-{n + 1}.log"
            service = await stack.enter_async_context(
                service_process(
                    database_url=database_url,
                    data_dir=self.data_dir,
                    token=token,
                    log_path=self.data_dir / name,
                    # The simulator's batches end in seconds; a real provider's take minutes
                    # to hours, and a poll every 15 s costs nothing.
                    batch_poll_s=15.0 if plan.real else 0.5,
                    lease_ttl_s=DEMO_LEASE_TTL_S if replicas > 1 else None,
                    provider_allow=provider_allow,
                )
            )
            api = await stack.enter_async_context(ApiClient(service.url, token))
            await wait_until_ready(api, service)
            label = "service" if replicas == 1 else f"replica {n + 1}"
            screen.step(label, f"{service.url}  " + screen.dim(f"(log: {service.log_path})"))
            services.append(service)
            apis.append(api)
        service, api = services[0], apis[0]

        try:
            if replicas > 1:
                run, api = await self._judge_on_replicas(apis, services, database_url, judge_body)
                service = services[apis.index(api)]
            else:
                run = await self._judge(api, database_url, judge_body)
            await self._summary(api, run)
            self._next_steps(run, service.url, token)
        except (ApiError, ServiceUnreachable) as exc:
            raise DemoError(
                f"{exc}\nlast lines of {service.log_path}:\n{log_tail(service.log_path)}"
            ) from exc
        if self.args.keep:
            await self._keep_running(service)
        return 0 if run.status == "completed" else 1

    def _judge_body(self, plan: ProviderPlan) -> dict[str, Any]:
        common: dict[str, Any] = {"batch_size": 10, "concurrency": 4, "max_retries": 3}
        if self.args.batch:
            common["delivery"] = "batch"
        if plan.real:
            body: dict[str, Any] = {
                "name": f"demo judge ({plan.model})",
                "provider": plan.kind,
                "model": plan.model,
                # The service reads the key from its own environment; it is never stored.
                "api_key_env": KEY_VARIABLES[plan.kind],
                **common,
            }
            base_url = os.environ.get(BASE_URL_VARIABLES[plan.kind])
            if base_url:
                body["base_url"] = base_url
            return body
        return {
            "name": "demo judge (simulator)",
            "provider": "openai",
            "model": plan.model,
            "api_key": "sk-demo-simulator",
            **common,
        }

    def _token_estimate(self) -> str:
        # ~250 input tokens of instructions per batch + ~60 per candidate, in and out.
        batches = self.sample.candidate_count / 10
        return format_count(batches * 250 + self.sample.candidate_count * 120)

    async def _judge(
        self, api: ApiClient, database_url: str, judge_body: dict[str, Any]
    ) -> JudgingRun:
        screen = self.screen
        sample = self.sample
        evaluation = await api.create_evaluation_run(sample.body)
        humans = await self._load_human_judgments(database_url, evaluation.id)
        screen.step(
            "sample run",
            f"{sample.name!r}: {evaluation.query_count} queries, "
            f"{evaluation.candidate_count} candidates, {humans} human judgments",
        )
        judge = await api.create_judge(judge_body)
        screen.step(
            "judge",
            f"{judge.name!r}: {judge.provider} · {judge.model}, batches of {judge.batch_size}, "
            + (
                "through the provider's batch API"
                if judge.delivery == "batch"
                else f"{judge.concurrency} calls at a time"
            ),
        )
        run = await api.start_judging_run(evaluation.id, judge.id)
        screen.step("judging run", f"{run.id}  {screen.dim('(POST …/ai-judge)')}")
        screen.say()
        printer = ProgressPrinter(self.screen.stream, indent="  ")
        try:
            return await api.watch(run.id, printer.update, min_interval_s=0.2, max_interval_s=1.0)
        finally:
            printer.finish()

    async def _judge_on_replicas(
        self,
        apis: list[ApiClient],
        services: list[ServiceProcess],
        database_url: str,
        judge_body: dict[str, Any],
    ) -> tuple[JudgingRun, ApiClient]:
        """Start the run through the first replica, kill whichever replica holds it once
        it is under way, and follow it on another until it ends; the run and the API of
        a replica still up."""
        screen = self.screen
        sample = self.sample
        api = apis[0]
        evaluation = await api.create_evaluation_run(sample.body)
        humans = await self._load_human_judgments(database_url, evaluation.id)
        screen.step(
            "sample run",
            f"{sample.name!r}: {evaluation.query_count} queries, "
            f"{evaluation.candidate_count} candidates, {humans} human judgments",
        )
        judge = await api.create_judge(judge_body)
        run = await api.start_judging_run(evaluation.id, judge.id)
        screen.step("judging run", f"{run.id}  {screen.dim('(POST …/ai-judge on replica 1)')}")
        while True:
            run = await api.get_judging_run(run.id)
            if run.status not in ("queued", "running") or run.progress >= 0.3:
                break
            await asyncio.sleep(0.2)
        holder = await lease_owner(database_url, run.id)
        ports = [s.url.rsplit(":", 1)[1] for s in services]
        victim = next((i for i, port in enumerate(ports) if holder and holder.endswith(port)), 0)
        if run.status in ("queued", "running"):
            services[victim].process.kill()
            await services[victim].process.wait()
            screen.step(
                "replica down",
                f"replica {victim + 1} (it held the run at {run.progress:.0%}) killed with "
                f"SIGKILL  "
                + screen.dim(
                    f"(its lease expires within {DEMO_LEASE_TTL_S:g} s; then another "
                    "replica claims the run)"
                ),
            )
            # Until another replica has claimed it (within the lease's time to live).
            while True:
                owner = await lease_owner(database_url, run.id)
                run = await apis[(victim + 1) % len(apis)].get_judging_run(run.id)
                if (owner and owner != holder) or run.status not in ("queued", "running"):
                    break
                await asyncio.sleep(0.25)
            screen.step(
                "taken over",
                f"by {owner or 'another replica'} at {run.progress:.0%}, without any restart",
            )
        survivor = apis[(victim + 1) % len(apis)]
        screen.say()
        printer = ProgressPrinter(self.screen.stream, indent="  ")
        try:
            final = await survivor.watch(
                run.id, printer.update, min_interval_s=0.2, max_interval_s=1.0
            )
        finally:
            printer.finish()
        return final, survivor

    async def _load_human_judgments(self, database_url: str, evaluation_run_id: str) -> int:
        """The sample's 120 human grades in one all-or-nothing write through the store
        (the REST route takes one judgment per call, by candidate id)."""
        from releval_judge.store.database import create_pool
        from releval_judge.store.human import HumanJudgments

        pool = await create_pool(database_url, size=2)
        try:
            # Written by the demo itself, not through a token: their history says so.
            return await HumanJudgments(pool).add(
                evaluation_run_id, self.sample.human_judgments, by="demo"
            )
        finally:
            await pool.close()

    async def _summary(self, api: ApiClient, run: JudgingRun) -> None:
        screen = self.screen
        elapsed = (
            (run.finished_at - run.started_at).total_seconds()
            if run.finished_at is not None and run.started_at is not None
            else None
        )
        screen.heading("Summary")
        status = run.status if elapsed is None else f"{run.status} in {format_duration(elapsed)}"
        rows = [
            ("status", status),
            ("candidates", f"{run.total:,}"),
            ("judged", f"{run.judged:,}"),
            ("failed", f"{run.failed:,}"),
            ("tokens", f"{run.input_tokens:,} in · {run.output_tokens:,} out"),
        ]
        if elapsed:
            rows.append(("throughput", f"{(run.judged + run.failed) / elapsed:,.1f} candidates/s"))
        if run.error:
            rows.append(("error", run.error))
        for label, value in rows:
            screen.say(f"  {label:<12} {value}")

        scale = self.sample.body["scale"]
        labels: dict[str, str] = scale["labels"]
        ai: dict[str, int] = {}
        human: dict[str, int] = {}
        keys: dict[str, tuple[str, str]] = {}
        async for judgment in api.judgments(run.evaluation_run_id):
            keys[judgment.candidate_id] = (judgment.query_id, judgment.doc_id)
            if judgment.source == "ai" and judgment.ai_judging_run_id == run.id:
                ai[judgment.candidate_id] = judgment.grade
            elif judgment.source == "human":
                human[judgment.candidate_id] = judgment.grade

        grades = range(scale["min"], scale["max"] + 1)
        if ai:
            screen.heading("Grades given by the AI judge")
            counts = Counter(ai.values())
            widest = max(counts.values())
            for grade in grades:
                bar = "█" * round(30 * counts[grade] / widest) if widest else ""
                label = labels.get(str(grade), "")
                screen.say(f"  {grade} {label:<11} {counts[grade]:>4}  {screen.style(bar, '36')}")

        both = [(human[c], ai[c]) for c in human if c in ai]
        if both:
            exact = sum(h == a for h, a in both) / len(both)
            near = sum(abs(h - a) <= 1 for h, a in both) / len(both)
            screen.heading(f"AI judge vs the human judge ({len(both)} candidates graded by both)")
            screen.say(f"  same grade {exact:.0%} · within one grade {near:.0%}")
            screen.say("  " + screen.dim("rows: human grade, columns: AI grade"))
            matrix = Counter(both)
            screen.say("          " + "".join(f"{'AI ' + str(g):>7}" for g in grades))
            for h in grades:
                cells = "".join(f"{matrix[(h, a)] or '·':>7}" for a in grades)
                screen.say(f"  human {h} {cells}")
        traps = [ai[c] for c, key in keys.items() if key in self.sample.traps and c in ai]
        if traps:
            fooled = sum(g >= 2 for g in traps)
            screen.say(
                f"  lexical traps (share words with the query, answer something else): "
                f"{fooled} of {len(traps)} graded relevant or better"
            )
            if not self.plan.real:
                screen.say(
                    "  "
                    + screen.dim(
                        "the simulator grades by word overlap, so it falls for them; a real "
                        "model should not (set OPENAI_API_KEY and run the demo again)"
                    )
                )

        if run.failed:
            reasons = Counter[str]()
            async for failure in api.failures(run.id):
                reasons[failure.reason] += 1
            screen.heading(f"Failed candidates ({run.failed})")
            for reason, count in reasons.most_common(3):
                screen.say(f"  {count:>4} × {reason}")
            if not self.plan.real:
                screen.say(
                    "  "
                    + screen.dim(
                        "on purpose: the simulator drops a candidate from about one answer "
                        "in ten (and answers 503 to one call in twenty, which is retried)"
                    )
                )

    def _next_steps(self, run: JudgingRun, url: str, token: str) -> None:
        screen = self.screen
        screen.heading("Where to look next")
        live = self.args.keep
        base = url if live else "http://127.0.0.1:8080"
        if live:
            screen.say(f"  The service stays up at {url} until Ctrl-C.")
            screen.say(f"    export RELEVAL_URL={url} RELEVAL_TOKEN={token}")
        elif self.external_database:
            screen.say(
                "  The service has stopped; the data is in your database: `make run` "
                "serves it again."
            )
        else:
            screen.say("  The service has stopped; the data stays in " + str(self.data_dir) + ".")
            screen.say(
                "  Serve it again (the token is printed at start-up; export it as RELEVAL_TOKEN):"
            )
            screen.say(f"    RELEVAL_DATA_DIR={self.data_dir} make run")
            screen.say("  or keep everything running next time:  make demo ARGS=--keep")
        auth = '-H "Authorization: Bearer $RELEVAL_TOKEN"'
        api = f"{base}/api/v1"
        screen.say()
        screen.say("  The judging run, its failures, and the judgments (AI and human):")
        screen.say(f"    curl {auth} {api}/ai-judging-runs/{run.id}")
        screen.say(f"    curl {auth} {api}/ai-judging-runs/{run.id}/failures")
        screen.say(
            f"    curl {auth} '{api}/evaluations/runs/{run.evaluation_run_id}/judgments"
            "?source=ai&sort=-grade,rank&limit=5'"
        )
        screen.say("  From the command line:")
        screen.say(f"    releval-judge runs list {run.evaluation_run_id}")
        screen.say(f"    releval-judge runs start {run.evaluation_run_id} --judge JUDGE_ID --watch")
        screen.say("  Your own data:  releval-judge import --run RUN.trec --queries QUERIES.tsv")
        screen.say(f"  The API:        {base}/openapi.json · README.md")

    async def _keep_running(self, service: ServiceProcess) -> None:
        """Until Ctrl-C or SIGTERM (then everything stops as usual), or the service exits."""
        self.screen.say()
        self.screen.say(self.screen.bold("Running until Ctrl-C …"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        waiter = asyncio.create_task(service.process.wait(), name="demo-service-wait")
        stopper = asyncio.create_task(stop.wait(), name="demo-stop-wait")
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)
        if not stop.is_set():
            self.screen.say(f"the service exited (code {service.process.returncode})")
        self.screen.say("stopping the service and the simulator …")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m releval_judge.demo [options]``: the demo without the main CLI."""
    parser = argparse.ArgumentParser(prog="releval-judge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
