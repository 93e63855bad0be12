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
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.demo.errors import DemoError
from releval_judge.demo.processes import (
    ServiceProcess,
    embedded_database,
    lease_owner,
    load_human_judgments,
    log_tail,
    service_process,
    simulator,
    wait_until_ready,
)
from releval_judge.demo.provider import (
    KEY_VARIABLES,
    ProviderPlan,
    choose_provider,
    judge_body,
    token_estimate,
)
from releval_judge.demo.sample import SampleRun, sample_run
from releval_judge.demo.screen import Screen
from releval_judge.models import EvaluationRun, JudgingRun
from releval_judge.secrets import new_token

# The CLI and the tests know these from here.
__all__ = ["DemoError", "add_parser", "choose_provider", "main", "run"]

# With replicas, a short lease so that the takeover after the kill shows within seconds.
DEMO_LEASE_TTL_S = 6.0


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

        fields = judge_body(plan, batch=self.args.batch)
        provider_allow: str | None = None
        if plan.real:
            screen.step(
                "provider",
                f"{plan.kind} · {plan.model}  "
                + screen.dim(
                    f"({KEY_VARIABLES[plan.kind]} is set; --provider sim uses the simulator; "
                    f"about {token_estimate(self.sample)} tokens)"
                ),
            )
        else:
            sim_port, _ = await stack.enter_async_context(simulator(self.args.latency_ms))
            fields["base_url"] = f"http://127.0.0.1:{sim_port}/v1"
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
                run, api = await self._judge_on_replicas(apis, services, database_url, fields)
                service = services[apis.index(api)]
            else:
                run = await self._judge(api, database_url, fields)
            await self.screen.summary(api, run, self.sample, real=plan.real)
            self.screen.next_steps(
                run,
                service.url,
                token,
                keep=self.args.keep,
                external_database=bool(self.external_database),
                data_dir=self.data_dir,
            )
        except (ApiError, ServiceUnreachable) as exc:
            raise DemoError(
                f"{exc}\nlast lines of {service.log_path}:\n{log_tail(service.log_path)}"
            ) from exc
        if self.args.keep:
            await self._keep_running(service)
        return 0 if run.status == "completed" else 1

    async def _judge(self, api: ApiClient, database_url: str, fields: dict[str, Any]) -> JudgingRun:
        screen = self.screen
        evaluation = await self._sample_run(api, database_url)
        judge = await api.create_judge(fields)
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
        return await screen.follow(api, run.id)

    async def _judge_on_replicas(
        self,
        apis: list[ApiClient],
        services: list[ServiceProcess],
        database_url: str,
        fields: dict[str, Any],
    ) -> tuple[JudgingRun, ApiClient]:
        """Start the run through the first replica, kill whichever replica holds it once
        it is under way, and follow it on another until it ends; the run and the API of
        a replica still up."""
        screen = self.screen
        api = apis[0]
        evaluation = await self._sample_run(api, database_url)
        judge = await api.create_judge(fields)
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
        return await screen.follow(survivor, run.id), survivor

    async def _sample_run(self, api: ApiClient, database_url: str) -> EvaluationRun:
        """The bundled sample as a new evaluation run, with its human judgments."""
        sample = self.sample
        evaluation = await api.create_evaluation_run(sample.body)
        humans = await load_human_judgments(database_url, evaluation.id, sample.human_judgments)
        self.screen.step(
            "sample run",
            f"{sample.name!r}: {evaluation.query_count} queries, "
            f"{evaluation.candidate_count} candidates, {humans} human judgments",
        )
        return evaluation

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
