"""``releval-judge metrics RUN_ID --measures ndcg@10,p@5``: an evaluation run's retrieval
metrics as a table (one row per query, the means last), over the REST API."""

from __future__ import annotations

import argparse
import asyncio
import sys

from releval_judge.client.api import ApiClient, ApiError, ServiceUnreachable
from releval_judge.client.options import (
    add_grade_options,
    add_service_options,
    aligned,
    grade_params,
)
from releval_judge.metrics.measures import DEFAULT_MEASURES
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
    add_grade_options(parser)
    parser.add_argument("--ai-judging-run", help="that judging run's own AI grades")
    parser.add_argument("--json", action="store_true", help="print the API's JSON on stdout")
    add_service_options(parser)


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("releval-judge metrics: set RELEVAL_TOKEN or pass --token", file=sys.stderr)
        return EXIT_USAGE
    params = {"measures": args.measures, **grade_params(args)}
    if args.ai_judging_run is not None:
        params["ai_judging_run_id"] = args.ai_judging_run

    async def main() -> RetrievalMetrics:
        async with ApiClient(args.url, args.token) as api:
            return await api.metrics(args.evaluation_run_id, **params)

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
    lines = aligned(rows)
    rule = "-" * len(lines[0])
    header = f"source {result.source}, relevant from grade {result.relevant_min_grade}"
    return "\n".join([header, lines[0], rule, *lines[1:-1], rule, lines[-1]])
