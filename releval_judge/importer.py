"""Reading TREC-style run files into NDJSON candidate lines (for ``releval-judge import``).

Inputs: a run file (``query_id Q0 doc_id rank score tag`` per line), a TSV of queries
(``query_id<TAB>text``) and a JSONL of documents (``doc_id`` or ``id``/``_id``, ``title``,
``text`` or ``body``/``contents``; every other key goes to ``fields``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOC_ID_KEYS = ("doc_id", "docid", "id", "_id")
TEXT_KEYS = ("text", "body", "contents")


class ImportFileError(ValueError):
    """A problem in one of the input files; the message names the file and line."""


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            query_id, sep, text = line.rstrip("\n").partition("\t")
            if not sep or not text.strip():
                raise ImportFileError(f"{path}:{line_no}: expected 'query_id<TAB>text'")
            queries[query_id.strip()] = text.strip()
    return queries


def read_run(path: Path) -> Iterator[tuple[int, str, str, int]]:
    """(line number, query_id, doc_id, rank) per line of a TREC run file."""
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 4:
                raise ImportFileError(
                    f"{path}:{line_no}: expected 'query_id Q0 doc_id rank score tag'"
                )
            try:
                rank = int(parts[3])
            except ValueError as exc:
                raise ImportFileError(
                    f"{path}:{line_no}: rank {parts[3]!r} is not an integer"
                ) from exc
            yield line_no, parts[0], parts[2], rank


def read_documents(path: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Only the documents the run file names are kept in memory."""
    documents: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                raise ImportFileError(
                    f"{path}:{line_no}: malformed JSON: {exc.msg} at column {exc.colno}"
                ) from exc
            if not isinstance(record, dict):
                raise ImportFileError(f"{path}:{line_no}: expected a JSON object")
            doc_id = next((str(record[k]) for k in DOC_ID_KEYS if k in record), None)
            if doc_id is None:
                raise ImportFileError(f"{path}:{line_no}: no doc_id (or id/_id) field")
            if doc_id in wanted:
                documents[doc_id] = record
    return documents


def candidate_lines(
    run_path: Path, queries_path: Path, docs_path: Path | None
) -> Iterator[dict[str, Any]]:
    """The NDJSON lines of ``POST /evaluations/runs/{id}/candidates`` for these files.

    Every file is read and checked before this returns (a query missing from the TSV or a
    document ranked twice for one query is an error too), so that a bad file fails
    before anything is sent to the service.
    """
    queries = read_queries(queries_path)
    wanted: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for line_no, query_id, doc_id, _ in read_run(run_path):
        if query_id not in queries:
            raise ImportFileError(
                f"{run_path}:{line_no}: query {query_id!r} is not in {queries_path}"
            )
        if (query_id, doc_id) in seen:
            raise ImportFileError(
                f"{run_path}:{line_no}: document {doc_id!r} appears twice for query {query_id!r}"
            )
        seen.add((query_id, doc_id))
        wanted.add(doc_id)
    seen.clear()
    documents = read_documents(docs_path, wanted) if docs_path is not None else {}
    return _lines(run_path, queries, documents)


def _lines(
    run_path: Path, queries: dict[str, str], documents: dict[str, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for _, query_id, doc_id, rank in read_run(run_path):
        record = documents.get(doc_id, {})
        text = next((record[k] for k in TEXT_KEYS if k in record), None)
        fields = {
            k: v
            for k, v in record.items()
            if k not in DOC_ID_KEYS and k not in TEXT_KEYS and k != "title"
        }
        yield {
            "query_id": query_id,
            "query": queries[query_id],
            "doc_id": doc_id,
            "rank": rank,
            "title": record.get("title"),
            "text": text,
            "fields": fields,
        }
