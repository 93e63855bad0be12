"""Export formats of judgments: CSV, JSON Lines and TREC qrels, encoded row by row.

Pure: rows in (from an async iterator, so a million of them never sit in memory), bytes
out in chunks of about :data:`CHUNK_BYTES`.

- ``jsonl``: one object per line with the judgments listing's fields (plus ``current``
  in a judging run's export).
- ``csv``: the same fields as columns, a header line first, RFC 4180 quoting. A text cell
  that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a ``'``
  first (OWASP's advice against CSV injection): a spreadsheet opening the file shows
  ``'=HYPERLINK(…)`` as text instead of running it. Queries, document ids, labels,
  reasonings and judge names come from users and providers; ``rank`` and ``grade`` are
  integers written as numbers, never prefixed (a grade of ``-1`` stays the number -1).
  JSON Lines and qrels carry every value as it is.
- ``qrels``: TREC relevance judgments, ``query_id 0 doc_id grade`` per line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from releval_judge.models import Judgment

__all__ = [
    "CHUNK_BYTES",
    "COLUMNS",
    "EXTENSIONS",
    "FORMULA_STARTS",
    "MEDIA_TYPES",
    "ExportFormat",
    "ExportRow",
    "encode",
]

ExportFormat = Literal["csv", "jsonl", "qrels"]

CHUNK_BYTES: Final = 64 * 1024

MEDIA_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "qrels": "text/plain; charset=utf-8",
}
EXTENSIONS: Final[dict[str, str]] = {"csv": "csv", "jsonl": "jsonl", "qrels": "qrels"}

COLUMNS: Final = tuple(Judgment.model_fields)
"""The fields of a judgments-listing item, in its order: the export's columns."""


class ExportRow(Judgment):
    """One judgment as exported (a judgments-listing item; ``current`` in a run's export)."""

    current: bool | None = None


def _timestamp(value: datetime) -> str:
    # The same form as the JSON API (pydantic writes UTC as "Z").
    return value.isoformat().replace("+00:00", "Z")


def _values(row: ExportRow, columns: Sequence[str]) -> list[Any]:
    values = [getattr(row, name) for name in columns]
    return [_timestamp(v) if isinstance(v, datetime) else v for v in values]


FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP, "CSV Injection")."""


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _columns(with_current: bool) -> list[str]:
    return [*COLUMNS, "current"] if with_current else list(COLUMNS)


async def encode(
    rows: AsyncIterable[ExportRow], fmt: ExportFormat, *, with_current: bool = False
) -> AsyncIterator[bytes]:
    """The export of ``rows`` in ``fmt``, as UTF-8 chunks of about :data:`CHUNK_BYTES`."""
    buffer = io.StringIO()
    columns = _columns(with_current)
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(columns)
    async for row in rows:
        if fmt == "qrels":
            buffer.write(f"{row.query_id} 0 {row.doc_id} {row.grade}\n")
        elif fmt == "jsonl":
            record = dict(zip(columns, _values(row, columns), strict=True))
            buffer.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            writer.writerow([_csv_cell(v) for v in _values(row, columns)])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
