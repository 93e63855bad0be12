"""``releval-judge metrics RUN_ID --measures ndcg@10,p@5``: an evaluation run's retrieval
metrics as a table (one row per query, the means last), over the REST API."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.metrics.measures import DEFAULT_MEASURES, SOURCES
from releval_judge.metrics.models import RetrievalMetrics

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "metrics", help="an evaluation run's retrieval metrics (nDCG, P, AP, RR, judged)"
    )
    parser.add_argument("evaluation_run_id", metavar="RUN_ID")
    parser.add_argument(
        "--measures", default=DEFAULT_MEASURES, help=f"comma list (default {DEFAULT_MEASURES})"
    )
    parser.add_argument("--source", choices=SOURCES, help="grades used (default human_else_ai)")
    parser.add_argument("--human-judge", help="one human judge's grades (default: the latest)")
    parser.add_argument("--relevant-min-grade", type=int, help="lowest relevant grade")
    parser.add_argument("--ai-judging-run", help="that judging run's own AI grades")
    parser.add_argument("--json", action="store_true", help="print the API's JSON on stdout")
    parser.add_argument(
        "--url",
        default=os.environ.get("RELEVAL_URL", "http://127.0.0.1:8080"),
        help="service URL (RELEVAL_URL; default http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("RELEVAL_TOKEN"), help="API token (RELEVAL_TOKEN)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("releval-judge metrics: set RELEVAL_TOKEN or pass --token", file=sys.stderr)
        return EXIT_USAGE
    params = {
        "measures": args.measures,
        "source": args.source,
        "human_judge": args.human_judge,
        "relevant_min_grade": None
        if args.relevant_min_grade is None
        else str(args.relevant_min_grade),
        "ai_judging_run_id": args.ai_judging_run,
    }

    async def main() -> RetrievalMetrics:
        async with ApiClient(args.url, args.token) as api:
            return await api.metrics(
                args.evaluation_run_id, **{k: v for k, v in params.items() if v is not None}
            )

    try:
        result = asyncio.run(main())
    except (ApiError, ServiceUnreachable) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        print(f"releval-judge metrics: {message}", file=sys.stderr)
        return EXIT_FAILED
    print(result.model_dump_json(indent=2) if args.json else table(result))
    return EXIT_OK


def table(result: RetrievalMetrics) -> str:
    """Queries as rows, measures as columns, the means last; values to 4 decimals."""
    names = list(result.measures)
    rows = [["QUERY", *(n.upper() for n in names)]]
    for query in result.queries:
        values = query.model_extra or {}
        rows.append([query.query_id, *(f"{values[n]:.4f}" for n in names)])
    rows.append(
        [f"mean ({len(result.queries)} queries)", *(f"{result.measures[n]:.4f}" for n in names)]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    rule = "-" * len(lines[0])
    header = f"source {result.source}, relevant from grade {result.relevant_min_grade}"
    return "\n".join([header, lines[0], rule, *lines[1:-1], rule, lines[-1]])
