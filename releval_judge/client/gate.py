"""``releval-judge gate --baseline RUN --candidate RUN --measure ndcg@10 [--max-drop X]``: a
CI step that fails when a new ranker is worse than the one it replaces (docs/ci.md).

It asks the service's comparison (``GET /evaluations/compare``, the baseline first) for one
measure, prints a per-query table (worst change first) and a summary line on stdout, and
exits:

* 0: the candidate passes (not significantly worse, and not down by more than
  ``--max-drop``);
* 1: the candidate is significantly worse (a negative difference whose two-sided p-value,
  the comparison's paired randomisation test, is below ``--alpha``), or its mean dropped
  by more than ``--max-drop`` (in the measure's units, significant or not);
* 2: no verdict could be reached: usage, token, unknown run or measure, an unreachable
  service, or runs without a shared query. CI must not read a typo as a regression.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.client.options import (
    add_grade_options,
    add_service_options,
    aligned,
    grade_params,
)
from releval_judge.metrics.models import PairedDifference, SystemComparison

EXIT_PASS, EXIT_WORSE, EXIT_ERROR = 0, 1, 2
DEFAULT_ALPHA = 0.05
# Means come from float sums: a drop equal to --max-drop must not fail on rounding.
_TOLERANCE = 1e-9

EPILOG = """\
exit codes: 0 the candidate passes; 1 it is significantly worse, or dropped by more than
--max-drop; 2 no verdict (usage, token, unknown run or measure, service unreachable).
"""


class GateError(Exception):
    """The gate cannot decide; the message says why and what to do next."""


@dataclass(frozen=True, slots=True)
class Verdict:
    failed: bool
    text: str


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gate`` to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "gate",
        help="fail (exit 1) when a candidate ranker's run is worse than the baseline's",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--baseline", required=True, metavar="RUN", help="evaluation run id")
    parser.add_argument("--candidate", required=True, metavar="RUN", help="evaluation run id")
    parser.add_argument(
        "--measure", default="ndcg@10", help="one measure: ndcg@K, p@K, ap, rr (default ndcg@10)"
    )
    parser.add_argument(
        "--max-drop",
        type=_non_negative,
        metavar="X",
        help="also fail when the candidate's mean is more than X below the baseline's "
        "(in the measure's units, e.g. 0.02), significant or not",
    )
    parser.add_argument(
        "--alpha",
        type=_probability,
        default=DEFAULT_ALPHA,
        help=f"significance level of the comparison's test (default {DEFAULT_ALPHA})",
    )
    add_grade_options(parser)
    add_service_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``gate``; returns the exit code (module docstring)."""
    try:
        comparison = asyncio.run(_compare(args))
        difference = _difference(comparison, args)
    except GateError as exc:
        print(f"releval-judge gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for warning in warnings(comparison, args.alpha):
        print(f"releval-judge gate: {warning}", file=sys.stderr)
    verdict = decide(difference, alpha=args.alpha, max_drop=args.max_drop)
    print(table(comparison, difference))
    print(summary(comparison, difference, verdict))
    return EXIT_WORSE if verdict.failed else EXIT_PASS


async def _compare(args: argparse.Namespace) -> SystemComparison:
    if not args.token:
        raise GateError(
            "no API token: set RELEVAL_TOKEN or pass --token (a read token is enough: "
            "releval-judge token create --name ci --scope read)"
        )
    if "," in args.measure:
        raise GateError(f"--measure takes one measure, not a list ({args.measure!r})")
    if args.baseline == args.candidate:
        raise GateError("--baseline and --candidate are the same run; give two evaluation runs")
    params = {"measures": args.measure, **grade_params(args)}
    async with ApiClient(args.url, args.token) as api:
        try:
            return await api.compare([args.baseline, args.candidate], **params)
        except ServiceUnreachable as exc:
            raise GateError(str(exc)) from exc
        except ApiError as exc:
            raise GateError(_next_step(exc, args)) from exc


def _next_step(exc: ApiError, args: argparse.Namespace) -> str:
    """The service's message, and what to check for the usual causes."""
    text = f"{exc.message} (HTTP {exc.status} {exc.code})"
    if exc.status == 401:
        return f"{text}: check RELEVAL_TOKEN (or --token)"
    if exc.status == 403:
        return f"{text}: the token needs the read scope"
    if exc.status == 404:
        return (
            f"{text}: check --baseline {args.baseline} and --candidate {args.candidate} "
            "(evaluation run ids, as POST /api/v1/evaluations/runs returned them)"
        )
    if exc.status == 422:
        return f"{text}: check --measure, --source, --human-judge, --relevant-min-grade"
    return text


def _difference(comparison: SystemComparison, args: argparse.Namespace) -> PairedDifference:
    if comparison.shared_queries == 0:
        raise GateError(
            "the runs share no query id, so there is nothing to compare: gate runs of two "
            "rankers over the same queries"
        )
    [difference] = comparison.differences
    return difference


def decide(difference: PairedDifference, *, alpha: float, max_drop: float | None) -> Verdict:
    """Fail when significantly worse or down by more than ``max_drop``; else pass."""
    d, p = difference.difference, difference.p_value
    significant = p is not None and p < alpha
    if significant and d < 0:
        return Verdict(True, f"FAIL: the candidate is significantly worse (p < {alpha:g})")
    if max_drop is not None and -d > max_drop + _TOLERANCE:
        return Verdict(True, f"FAIL: the candidate dropped by more than --max-drop {max_drop:g}")
    if significant and d > 0:
        return Verdict(False, f"PASS: the candidate is significantly better (p < {alpha:g})")
    return Verdict(False, f"PASS: no significant difference at {alpha:g}")


def warnings(comparison: SystemComparison, alpha: float) -> list[str]:
    """What a reader of the verdict should know: queries left out, too few to decide."""
    notes = []
    left_out = {run: n for run, n in comparison.excluded_queries.items() if n}
    if left_out:
        listed = ", ".join(f"{n} of {run}" for run, n in left_out.items())
        notes.append(
            f"only the {comparison.shared_queries} queries both runs have are compared "
            f"({listed} left out)"
        )
    # Sign flips of n queries cannot give a two-sided p below 2 / 2^n.
    if 2.0 ** (1 - comparison.shared_queries) >= alpha:
        notes.append(
            f"{comparison.shared_queries} shared queries are too few for the test ever to "
            f"reach p < {alpha:g}: only --max-drop can fail the gate; compare on more queries"
        )
    return notes


def table(comparison: SystemComparison, difference: PairedDifference) -> str:
    """One row per shared query, the largest drop first (ties by query id)."""
    baseline, candidate = comparison.baseline, difference.evaluation_run_id
    measure = difference.measure
    rows = []
    for query in comparison.queries:
        b, c = query.runs[baseline][measure], query.runs[candidate][measure]
        rows.append((c - b, query.query_id, b, c))
    rows.sort(key=lambda row: (row[0], row[1]))
    cells = [["QUERY", "BASELINE", "CANDIDATE", "DIFFERENCE"]]
    cells += [[q, f"{b:.4f}", f"{c:.4f}", f"{d:+.4f}"] for d, q, b, c in rows]
    lines = aligned(cells)
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def summary(comparison: SystemComparison, difference: PairedDifference, verdict: Verdict) -> str:
    """The line a CI log is read for: means, difference, p-value, verdict."""
    p = "n/a" if difference.p_value is None else f"{difference.p_value:.4g}"
    test = comparison.test
    return (
        f"{difference.measure} over {comparison.shared_queries} queries "
        f"(source {comparison.source}): baseline {difference.baseline_mean:.4f}, "
        f"candidate {difference.mean:.4f}, difference {difference.difference:+.4f}, "
        f"p = {p} ({test.name}, {test.permutations:,} permutations, seed {test.seed}); "
        f"{verdict.text}"
    )


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is below 0; give a drop such as 0.02")
    return value


def _probability(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1; e.g. 0.05")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
