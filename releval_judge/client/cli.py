"""``releval-judge runs …``: start, watch, cancel, list and audit AI judging runs over the
REST API.

The service is found through ``RELEVAL_URL`` (default ``http://127.0.0.1:8080``) and
``RELEVAL_TOKEN`` (or ``--url`` / ``--token``). Progress goes to stderr and results to
stdout, so that ``RUN=$(releval-judge runs start EVAL --judge JUDGE)`` captures the id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.client.options import add_service_options
from releval_judge.client.progress import ProgressPrinter, format_count, format_duration
from releval_judge.models import JudgingRun
from releval_judge.models.audits import Audit

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed, or the service refused the request
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_INTERRUPTED = 130

EPILOG = """\
exit codes: 0 done (for watch: the run completed; for audit: the verdict is consistent);
1 the run or the audit failed, an audit's verdict is order_sensitive or unstable, or the
service refused the request; 2 usage error; 3 the run or the audit was cancelled;
130 interrupted.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``runs`` and its subcommands to the CLI's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    add_service_options(common)
    common.add_argument("--json", action="store_true", help="print the API's JSON on stdout")

    runs = subparsers.add_parser(
        "runs",
        help="start, watch, cancel, list and audit AI judging runs",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")

    start = commands.add_parser(
        "start", parents=[common], help="start a judging run", epilog=EPILOG
    )
    start.add_argument("evaluation_run_id", metavar="EVAL_RUN_ID")
    start.add_argument("--judge", dest="judge_id", required=True, metavar="JUDGE_ID")
    start.add_argument(
        "--scope",
        choices=["all", "unjudged", "failed"],
        help="which candidates (default: all; unjudged fills in the gaps)",
    )
    start.add_argument(
        "--max-cost",
        type=float,
        metavar="AMOUNT",
        help="stop (failed) before any call that could take the run's cost past AMOUNT, "
        "in the judge's prices' currency",
    )
    start.add_argument(
        "--reuse",
        choices=["fingerprint", "none"],
        help="take earlier judgments of the same question instead of calling the provider "
        "(default: fingerprint; none sends every candidate)",
    )
    start.add_argument("--watch", action="store_true", help="then watch it until it ends")

    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="show a run's progress until it ends",
        epilog=EPILOG,
    )
    watch.add_argument("judging_run_id", metavar="ID")

    cancel = commands.add_parser(
        "cancel", parents=[common], help="cancel a queued or running run", epilog=EPILOG
    )
    cancel.add_argument("judging_run_id", metavar="ID")

    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="audit a run's judge (test-retest and position in the batch) and wait for the verdict",
        epilog=EPILOG,
    )
    audit.add_argument("judging_run_id", metavar="ID")
    audit.add_argument(
        "--sample-size", type=int, metavar="N", help="candidates re-judged twice (default 100)"
    )
    audit.add_argument("--seed", type=int, help="fixes the sample (default: drawn at random)")
    audit.add_argument(
        "--no-wait", action="store_true", help="print the audit's id and return at once"
    )

    listing = commands.add_parser(
        "list", parents=[common], help="list an evaluation run's judging runs, newest first"
    )
    listing.add_argument("evaluation_run_id", metavar="EVAL_RUN_ID")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")


def run(args: argparse.Namespace) -> int:
    """Run the ``runs`` subcommand in ``args``; returns the exit code."""
    if not args.token:
        print("releval-judge runs: set RELEVAL_TOKEN or pass --token", file=sys.stderr)
        return EXIT_USAGE
    commands: dict[str, Callable[[ApiClient, argparse.Namespace], Awaitable[int]]] = {
        "start": _start,
        "watch": _watch,
        "cancel": _cancel,
        "list": _list,
        "audit": _audit,
    }
    command = commands[args.runs_command]

    async def main() -> int:
        async with ApiClient(args.url, args.token) as api:
            try:
                return await command(api, args)
            except ApiError as exc:
                print(f"releval-judge runs {args.runs_command}: {exc.message}", file=sys.stderr)
                return EXIT_FAILED
            except ServiceUnreachable as exc:
                print(f"releval-judge runs {args.runs_command}: {exc}", file=sys.stderr)
                return EXIT_FAILED

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        if args.runs_command == "watch" or getattr(args, "watch", False):
            print(
                "\nstopped watching; the run goes on "
                "(cancel it with: releval-judge runs cancel ID)",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED


def exit_code(run: JudgingRun) -> int:
    """0 completed, 1 failed, 3 cancelled (a run still active counts as done so far)."""
    if run.status == "failed":
        return EXIT_FAILED
    if run.status == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK


def summary(run: JudgingRun) -> str:
    """One line a person reads at the end of a run."""
    tokens = f"{format_count(run.input_tokens)} in / {format_count(run.output_tokens)} out tokens"
    judged = f"{run.judged:,} judged"
    if run.reused:
        judged += f" ({run.reused:,} reused)"
    line = f"{run.status}: {judged}, {run.failed:,} failed of {run.total:,}; {tokens}"
    if run.cached_input_tokens:
        line += f" ({format_count(run.cached_input_tokens)} input cached)"
    if run.cost is not None:
        line += f"; cost {run.cost.total:.6g}"
        if run.max_cost is not None:
            line += f" of max {run.max_cost:g}"
    if run.started_at is not None and run.finished_at is not None:
        line += f"; {format_duration((run.finished_at - run.started_at).total_seconds())}"
    if run.partially_judged:
        line += f"; partially judged ({run.total - run.judged - run.failed:,} not reached)"
    if run.error:
        line += f"\n  error: {run.error}"
    return line


def _print_run(run: JudgingRun, args: argparse.Namespace, text: str) -> None:
    if args.json:
        print(run.model_dump_json(indent=2))
    else:
        print(text)


async def _start(api: ApiClient, args: argparse.Namespace) -> int:
    run = await api.start_judging_run(
        args.evaluation_run_id,
        args.judge_id,
        scope=args.scope,
        max_cost=args.max_cost,
        reuse=args.reuse,
    )
    print(
        f"judging run {run.id} {run.status}: {run.total:,} candidates, judge {run.ai_judge_name!r}",
        file=sys.stderr,
    )
    if args.watch:
        return await _watch_run(api, run.id, args)
    _print_run(run, args, run.id)
    return EXIT_OK


async def _watch(api: ApiClient, args: argparse.Namespace) -> int:
    return await _watch_run(api, args.judging_run_id, args)


async def _watch_run(api: ApiClient, judging_run_id: str, args: argparse.Namespace) -> int:
    printer = ProgressPrinter(sys.stderr)
    try:
        final = await api.watch(judging_run_id, printer.update)
    finally:
        printer.finish()
    _print_run(final, args, summary(final))
    return exit_code(final)


async def _cancel(api: ApiClient, args: argparse.Namespace) -> int:
    run = await api.cancel_judging_run(args.judging_run_id)
    _print_run(run, args, f"{run.id} {summary(run)}")
    return EXIT_OK


async def _list(api: ApiClient, args: argparse.Namespace) -> int:
    page = await api.list_judging_runs(args.evaluation_run_id, limit=args.limit)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in page.items], indent=2))
        return EXIT_OK
    if not page.items:
        print(f"no judging runs on evaluation run {args.evaluation_run_id}", file=sys.stderr)
        return EXIT_OK
    rows = [("ID", "STATUS", "JUDGED", "FAILED", "TOTAL", "TOKENS", "CREATED", "JUDGE")]
    for r in page.items:
        rows.append(
            (
                r.id,
                r.status,
                f"{r.judged:,}",
                f"{r.failed:,}",
                f"{r.total:,}",
                format_count(r.input_tokens + r.output_tokens),
                r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.ai_judge_name,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {2, 3, 4, 5}
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip())
    if page.next_cursor is not None:
        print(f"(more: raise --limit above {args.limit})", file=sys.stderr)
    return EXIT_OK


async def _audit(api: ApiClient, args: argparse.Namespace) -> int:
    audit = await api.start_audit(args.judging_run_id, sample_size=args.sample_size, seed=args.seed)
    print(f"audit {audit.id} {audit.status}: seed {audit.seed}", file=sys.stderr)
    if args.no_wait:
        _print_audit(audit, args, audit.id)
        return EXIT_OK
    final = await api.wait_audit(audit.id)
    _print_audit(final, args, audit_summary(final))
    if final.status == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if final.verdict == "consistent" else EXIT_FAILED


def audit_summary(audit: Audit) -> str:
    """What a person reads of an ended audit: the verdict and the figures it rests on."""
    if audit.status != "completed":
        return f"audit {audit.status}" + (f": {audit.error}" if audit.error else "")
    lines = [f"verdict: {audit.verdict} ({audit.sample_size:,} candidates, seed {audit.seed})"]
    for name, agreement in (("repeat", audit.repeat), ("order", audit.order)):
        if agreement is not None:
            lines.append(
                f"  {name}: exact {_figure(agreement.exact)}, weighted kappa "
                f"{_figure(agreement.weighted_kappa)} over {agreement.pairs:,} pairs"
            )
    position = audit.position
    if position is not None:
        interval = f" [{position.ci95[0]:+.3f}, {position.ci95[1]:+.3f}]" if position.ci95 else ""
        effect = (
            f"{position.first_minus_last:+.3f}" if position.first_minus_last is not None else "-"
        )
        lines.append(f"  first minus last: {effect}{interval} over {position.pairs:,} pairs")
    cost = f"; cost {audit.cost.total:.6g}" if audit.cost is not None else ""
    lines.append(
        f"  {audit.calls:,} calls, {format_count(audit.input_tokens)} in / "
        f"{format_count(audit.output_tokens)} out tokens{cost}"
    )
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_audit(audit: Audit, args: argparse.Namespace, text: str) -> None:
    print(audit.model_dump_json(indent=2) if args.json else text)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m releval_judge.client.cli runs …``: the client without the main CLI."""
    parser = argparse.ArgumentParser(prog="releval-judge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
