"""CSV cells a spreadsheet would run as formulas are neutralised; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from releval_judge.review.exports import ExportRow, encode


async def _rows(query: str, grade: int) -> AsyncIterator[ExportRow]:
    yield ExportRow(
        candidate_id="c",
        query_id="q",
        query=query,
        doc_id="d",
        rank=1,
        grade=grade,
        label=None,
        reasoning="plain",
        source="ai",
        judge="j",
        ai_judging_run_id=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def _csv(query: str, grade: int) -> dict[str, str]:
    chunks = [chunk async for chunk in encode(_rows(query, grade), "csv")]
    [row] = list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))
    return row


@pytest.mark.parametrize("start", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"])
async def test_a_cell_starting_like_a_formula_gets_a_quote(start: str) -> None:
    row = await _csv(start, -1)

    assert row["query"] == "'" + start
    assert (row["grade"], row["reasoning"], row["doc_id"]) == ("-1", "plain", "d")


@pytest.mark.parametrize("text", ["1+1", " =1", "a=b", "", "'=quoted already"])
async def test_other_cells_are_left_as_they_are(text: str) -> None:
    assert (await _csv(text, 2))["query"] == text


async def test_jsonl_is_unchanged() -> None:
    chunks = [chunk async for chunk in encode(_rows("=1+1", -1), "jsonl")]

    assert b'"query":"=1+1"' in b"".join(chunks)
    assert b'"grade":-1' in b"".join(chunks)
