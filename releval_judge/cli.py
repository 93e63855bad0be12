"""The ``releval-judge`` command: serve, import, token, secrets, sim, demo, runs, metrics,
gate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp

from releval_judge.client.options import add_service_options
from releval_judge.config import Settings, SettingsError, load_settings
from releval_judge.logs import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    from releval_judge import operator_cli

    parser = argparse.ArgumentParser(prog="releval-judge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve", help="serve the REST API (settings from RELEVAL_* variables)"
    )
    serve_parser.add_argument(
        "--role",
        choices=["all", "api", "worker"],
        help="all: API and judging (default, RELEVAL_ROLE); api: never judges; "
        "worker: judges, answers only health and metrics",
    )

    imp = commands.add_parser(
        "import", help="import a TREC run file (+ queries TSV, documents JSONL) over the API"
    )
    imp.add_argument(
        "--run", type=Path, required=True, help="TREC run: qid Q0 docid rank score tag"
    )
    imp.add_argument("--queries", type=Path, required=True, help="TSV: query_id<TAB>text")
    imp.add_argument("--docs", type=Path, help="JSONL: doc_id/id, title, text, other fields")
    imp.add_argument(
        "--evaluation-run", help="append to this evaluation run instead of creating one"
    )
    imp.add_argument("--name", help="name of the evaluation run to create (default: run file name)")
    imp.add_argument("--scale-min", type=int, default=0)
    imp.add_argument("--scale-max", type=int, default=3)
    imp.add_argument("--labels", help='JSON object of grade labels, e.g. \'{"0": "irrelevant"}\'')
    add_service_options(imp)

    operator_cli.add_parsers(commands)

    sim = commands.add_parser("sim", help="run the provider simulator (OpenAI/Anthropic shapes)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument("--config", help="SimConfig as JSON (latency_ms, requests_per_minute, …)")

    from releval_judge.client import cli as client_cli
    from releval_judge.client import gate as gate_cli
    from releval_judge.client import metrics as metrics_cli
    from releval_judge.demo import run as demo

    demo.add_parser(commands)
    client_cli.add_parser(commands)
    metrics_cli.add_parser(commands)
    gate_cli.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            settings = load_settings()
            if args.role is not None:
                settings = settings.model_copy(update={"role": args.role})
            return serve(settings)
        if args.command == "import":
            return asyncio.run(import_files(args))
        if args.command in ("token", "secrets"):
            return operator_cli.run(load_settings(), args)
        if args.command == "sim":
            return run_sim(args)
        if args.command == "demo":
            return demo.run(args)
        if args.command == "runs":
            return client_cli.run(args)
        if args.command == "metrics":
            return metrics_cli.run(args)
        if args.command == "gate":
            return gate_cli.run(args)
    except SettingsError as exc:
        print(f"releval-judge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


def _graceful_server_class(app: Any = None) -> type[Any]:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """Exit 0 after a graceful shutdown on SIGTERM, the normal way a service manager
        stops us (uvicorn re-raises the signal after shutting down, which exits 143).

        The runner stops dispatching at the signal itself, not when uvicorn has closed
        its connections and runs the lifespan's shutdown: no provider call starts after
        the signal."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                # What import and start-up made lives as long as the process: out of the
                # cyclic collector's way, a full collection walks only what serving and
                # judging allocate. It walked ~100,000 objects every few seconds, one
                # 60-100 ms stall of the loop that answers the API and judges each time
                # (docs/benchmarks.md, "Reads while a run writes").
                gc.freeze()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            services = getattr(getattr(app, "state", None), "services", None)
            if services is not None:
                with contextlib.suppress(RuntimeError):  # no loop running: nothing to stop
                    asyncio.get_running_loop().call_soon_threadsafe(
                        services.runner.stop_dispatching
                    )
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM and sig in self._captured_signals:
                self._captured_signals.remove(sig)

    return GracefulServer


def serve(settings: Settings) -> int:
    from releval_judge.app import create_app
    from releval_judge.serving import listening_socket, server_config

    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, announce_dev_token=True)
    config = server_config(app, settings)
    print(
        f"releval-judge serving on http://{settings.host}:{settings.port}{settings.root_path}"
        " (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    server = _graceful_server_class(app)(config)
    try:
        server.run(sockets=[listening_socket(config, settings)])
    except SystemExit:
        if server.started:
            raise
    if not server.started:
        # The lifespan refused to start (e.g. a RELEVAL_SECRET_KEY that does not fit the
        # database): say why as the last line, and exit non-zero like uvicorn's own CLI.
        reason = getattr(app.state, "startup_error", None) or "start-up failed (see the log)"
        print(f"releval-judge: not started: {reason}", file=sys.stderr, flush=True)
        return 3
    return 0


async def import_files(args: argparse.Namespace) -> int:
    from releval_judge.importer import ImportFileError, candidate_lines

    if not args.token:
        print("releval-judge import: set RELEVAL_TOKEN or pass --token", file=sys.stderr)
        return 2
    try:
        labels = json.loads(args.labels) if args.labels else {}
    except json.JSONDecodeError as exc:
        print(f"releval-judge import: --labels is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        # Every file is read and checked before the service is called, so that a bad
        # file leaves no empty evaluation run behind.
        candidates = candidate_lines(args.run, args.queries, args.docs)
    except (ImportFileError, OSError) as exc:
        print(f"releval-judge import: {exc}", file=sys.stderr)
        return 1
    try:
        return await _upload(args, labels, candidates)
    except ImportFileError as exc:  # a file changed while it was being sent
        print(f"releval-judge import: {exc}", file=sys.stderr)
        return 1
    except aiohttp.ClientError as exc:
        print(f"releval-judge import: cannot talk to {args.url}: {exc}", file=sys.stderr)
        return 1


async def _upload(
    args: argparse.Namespace, labels: dict[str, str], candidates: Iterator[dict[str, Any]]
) -> int:
    headers = {"Authorization": f"Bearer {args.token}"}
    base = args.url.rstrip("/") + "/api/v1"
    async with aiohttp.ClientSession(headers=headers) as session:
        run_id = args.evaluation_run
        if run_id is None:
            body = {
                "name": args.name or args.run.stem,
                "status": "completed",
                "scale": {"min": args.scale_min, "max": args.scale_max, "labels": labels},
            }
            async with session.post(f"{base}/evaluations/runs", json=body) as resp:
                created = await resp.json()
                if resp.status != 201:
                    print(f"releval-judge import: {created['error']['message']}", file=sys.stderr)
                    return 1
                run_id = created["id"]

        async def lines() -> AsyncIterator[bytes]:
            chunk: list[str] = []
            for line in candidates:
                chunk.append(json.dumps(line))
                if len(chunk) == 1000:
                    yield ("\n".join(chunk) + "\n").encode()
                    chunk = []
            if chunk:
                yield ("\n".join(chunk) + "\n").encode()

        async with session.post(
            f"{base}/evaluations/runs/{run_id}/candidates",
            data=lines(),
            headers={"Content-Type": "application/x-ndjson"},
        ) as resp:
            result = await resp.json()
        if resp.status != 201:
            print(f"releval-judge import: {result['error']['message']}", file=sys.stderr)
            return 1
    print(
        json.dumps(
            {
                "evaluation_run_id": run_id,
                "imported": result["imported"],
                "queries_added": result["queries_added"],
            }
        )
    )
    return 0


def run_sim(args: argparse.Namespace) -> int:
    from releval_judge.sim import SimConfig, serve_forever

    config = SimConfig.model_validate_json(args.config) if args.config else SimConfig()
    print(
        f"provider simulator on http://{args.host}:{args.port} "
        f"(OpenAI base_url http://{args.host}:{args.port}/v1)",
        file=sys.stderr,
    )
    serve_forever(config, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
