"""What the REST client's commands share: where the service is, which grades count, and
how a table of figures is laid out.

One definition, so that ``runs``, ``metrics``, ``gate`` and the rest read ``RELEVAL_URL``
and ``RELEVAL_TOKEN``, name their grade options and align their tables the same way."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from releval_judge.metrics.measures import SOURCES


def add_service_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` (``RELEVAL_URL``, default http://127.0.0.1:8080) and ``--token``
    (``RELEVAL_TOKEN``)."""
    parser.add_argument(
        "--url",
        default=os.environ.get("RELEVAL_URL", "http://127.0.0.1:8080"),
        help="service URL (RELEVAL_URL; default http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("RELEVAL_TOKEN"), help="API token (RELEVAL_TOKEN)"
    )


def add_grade_options(parser: argparse.ArgumentParser) -> None:
    """``--source``, ``--human-judge``, ``--relevant-min-grade``: the metrics routes' grade
    parameters (docs/metrics.md)."""
    parser.add_argument("--source", choices=SOURCES, help="grades used (default human_else_ai)")
    parser.add_argument("--human-judge", help="one human judge's grades (default: the latest)")
    parser.add_argument("--relevant-min-grade", type=int, help="lowest relevant grade")


def grade_params(args: argparse.Namespace) -> dict[str, str]:
    """The query parameters of the grade options given (those left out are not sent)."""
    params = {
        "source": args.source,
        "human_judge": args.human_judge,
        "relevant_min_grade": None
        if args.relevant_min_grade is None
        else str(args.relevant_min_grade),
    }
    return {k: v for k, v in params.items() if v is not None}


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """The rows as lines of aligned columns, two spaces apart: the first column (a name)
    to the left, the rest (figures) to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
