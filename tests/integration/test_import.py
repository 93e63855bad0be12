"""Bulk import of candidates as NDJSON: streamed through COPY, all or nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

from tests.support.api import assert_error, create_evaluation
from tests.support.service import Service

NDJSON = {"Content-Type": "application/x-ndjson"}


def line(query: int, doc: int, **extra: Any) -> dict[str, Any]:
    return {
        "query_id": f"bulk-q{query}",
        "query": f"bulk query {query}",
        "doc_id": f"doc-{query}-{doc}",
        "rank": doc,
        **extra,
    }


def encode(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in lines)


async def stream(raw_lines: Iterator[bytes], lines_per_chunk: int = 1000) -> AsyncIterator[bytes]:
    """Yield the body in chunks as it is produced: never built whole."""
    chunk: list[bytes] = []
    for raw in raw_lines:
        chunk.append(raw)
        if len(chunk) == lines_per_chunk:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


async def _import(service: Service, run_id: str, data: Any) -> tuple[int, Any]:
    return await service.request(
        "POST", f"/evaluations/runs/{run_id}/candidates", data=data, headers=NDJSON
    )


async def _rows(db: asyncpg.Pool, run_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM candidates WHERE evaluation_run_id = $1::uuid", run_id
    )
    return count


async def _unchanged(service: Service, db: asyncpg.Pool, run: dict[str, Any]) -> None:
    status, now = await service.request("GET", f"/evaluations/runs/{run['id']}")
    assert status == 200
    assert (now["query_count"], now["candidate_count"]) == (
        run["query_count"],
        run["candidate_count"],
    ), "nothing may be imported"
    assert await _rows(db, run["id"]) == run["candidate_count"]


async def test_import_200000_candidates_streamed(service: Service, db: asyncpg.Pool) -> None:
    run = await create_evaluation(service, queries=2, per_query=3)
    queries, per_query = 2000, 100

    def lines() -> Iterator[bytes]:
        for q in range(queries):
            for d in range(1, per_query + 1):
                item = line(q, d, title=f"title {q}-{d}", fields={"n": d})
                yield json.dumps(item).encode() + b"\n"

    status, result = await _import(service, run["id"], stream(lines()))

    assert status == 201, result
    assert result["evaluation_run_id"] == run["id"]
    assert result["imported"] == 200_000
    assert result["queries_added"] == queries
    assert result["evaluation_run"]["candidate_count"] == 200_006
    assert result["evaluation_run"]["query_count"] == 2002
    status, fetched = await service.request("GET", f"/evaluations/runs/{run['id']}")
    assert status == 200
    assert (fetched["candidate_count"], fetched["query_count"]) == (200_006, 2002)
    assert await _rows(db, run["id"]) == 200_006
    queries_stored = await db.fetchval(
        "SELECT count(*) FROM queries WHERE evaluation_run_id = $1::uuid", run["id"]
    )
    assert queries_stored == 2002
    sample = await db.fetchrow(
        "SELECT c.rank, c.title, c.fields::text AS fields, q.text AS query FROM candidates c "
        "JOIN queries q USING (evaluation_run_id, query_id) "
        "WHERE c.evaluation_run_id = $1::uuid AND c.doc_id = 'doc-1999-100'",
        run["id"],
    )
    assert sample is not None
    assert (sample["rank"], sample["title"], sample["query"]) == (
        100,
        "title 1999-100",
        "bulk query 1999",
    )
    assert json.loads(sample["fields"]) == {"n": 100}


async def test_import_adds_to_existing_queries_and_keeps_every_field(
    service: Service, db: asyncpg.Pool
) -> None:
    run = await create_evaluation(service, queries=1, per_query=2)
    body = (
        encode(
            [
                {"query_id": "q1", "query": "other text", "doc_id": "new", "rank": 3},
                line(1, 1, title="T", text="body <b>", fields={"brand": "Acme", "tags": [1]}),
            ]
        )
        + b"\n  \n"  # blank lines are skipped
        + json.dumps(line(1, 2)).encode()  # the last line needs no newline
    )
    status, result = await _import(service, run["id"], body)
    assert status == 201, result
    assert (result["imported"], result["queries_added"]) == (3, 1)
    assert result["evaluation_run"]["candidate_count"] == 5
    assert result["evaluation_run"]["query_count"] == 2
    row = await db.fetchrow(
        "SELECT title, text, fields::text AS fields FROM candidates "
        "WHERE evaluation_run_id = $1::uuid AND doc_id = 'doc-1-1'",
        run["id"],
    )
    assert row is not None
    assert (row["title"], row["text"]) == ("T", "body <b>")
    assert json.loads(row["fields"]) == {"brand": "Acme", "tags": [1]}
    q1 = await db.fetchval(
        "SELECT text FROM queries WHERE evaluation_run_id = $1::uuid AND query_id = 'q1'",
        run["id"],
    )
    assert q1 == "query number 1", "a query already present keeps its text"


async def test_empty_import_imports_nothing(service: Service) -> None:
    run = await create_evaluation(service)
    status, result = await _import(service, run["id"], b"")
    assert status == 201, result
    assert (result["imported"], result["queries_added"]) == (0, 0)
    assert result["evaluation_run"]["candidate_count"] == run["candidate_count"]


async def test_malformed_json_names_the_line_and_imports_nothing(
    service: Service, db: asyncpg.Pool
) -> None:
    run = await create_evaluation(service)
    # The bad line comes after more lines than one COPY chunk: those are rolled back too.
    good = [json.dumps(line(q, d)).encode() + b"\n" for q in range(30) for d in range(400)]
    # Each with the cause as Python's json gives it, the column within the line.
    cases = {
        b'{"query_id": "x", "query": "y",\n': "Expecting property name enclosed in double quotes",
        b"not json\n": "Expecting value at column 1",
        b"[1, 2\n": "Expecting ',' delimiter at column 6",
        b'{"query_id": "x" "query": "y"}\n': "Expecting ',' delimiter at column 18",
        b'{"query_id": "\xff"}\n': "not UTF-8 text (byte 15)",
    }
    for bad_line, cause in cases.items():
        lines = [*good, bad_line, json.dumps(line(99, 1)).encode() + b"\n"]
        status, body = await _import(service, run["id"], stream(iter(lines)))
        error = assert_error(status, body, 400, "invalid_json")
        message = error["message"]
        assert message.startswith(f"line {len(good) + 1}: malformed JSON: {cause}"), message
        assert message.endswith("; nothing was imported"), message
        await _unchanged(service, db, run)


async def test_a_bad_line_is_422_naming_the_line_and_imports_nothing(
    service: Service, db: asyncpg.Pool
) -> None:
    run = await create_evaluation(service)
    good = [line(0, d) for d in range(1, 8)]
    cases: list[tuple[dict[str, Any] | list[Any], str]] = [
        ({k: v for k, v in line(5, 1).items() if k != "doc_id"}, "doc_id"),
        ({k: v for k, v in line(5, 1).items() if k != "query"}, "query"),
        (line(5, 1, rank="first"), "rank"),
        (line(5, 1, rank=-3), "rank"),
        (line(5, 1, fields="not an object"), "fields"),
        (line(5, 1, score=1.0), "score"),
        ({**line(5, 1), "query_id": ""}, "query_id"),
        ([1, 2, 3], "line 8"),
    ]
    for bad, words in cases:
        status, body = await _import(service, run["id"], encode([*good, bad]))
        error = assert_error(status, body, 422, "validation_error")
        assert "line 8" in error["message"], error["message"]
        assert words in error["message"], error["message"]
        assert error["details"][0]["loc"][0] == "line 8"
        await _unchanged(service, db, run)


async def test_duplicates_are_422_naming_the_lines_and_the_pair_and_import_nothing(
    service: Service, db: asyncpg.Pool
) -> None:
    run = await create_evaluation(service, queries=1, per_query=2)
    # Ids with ", " in them: PostgreSQL's own rendering of the pair is ambiguous.
    odd = {"query_id": "q, 1", "query": "q", "doc_id": "d, 1", "rank": 1}
    within = encode([line(0, 1), line(0, 2), odd]) + b"\n" + encode([odd, line(0, 1, rank=9)])
    status, body = await _import(service, run["id"], within)
    error = assert_error(status, body, 422, "validation_error")
    assert error["message"] == (
        "lines 3 and 5 both have query_id 'q, 1' with doc_id 'd, 1' (a document is ranked "
        "once per query); nothing was imported"
    ), error
    assert [d["loc"] for d in error["details"]] == [["line 3", "doc_id"], ["line 5", "doc_id"]]
    await _unchanged(service, db, run)

    existing = [line(0, 3), {"query_id": "q1", "query": "q", "doc_id": "d1-1", "rank": 5}]
    status, body = await _import(service, run["id"], encode(existing))
    error = assert_error(status, body, 422, "validation_error")
    assert error["message"] == (
        "line 2: query_id 'q1' with doc_id 'd1-1' is already in the evaluation run (a "
        "document is ranked once per query); nothing was imported"
    ), error
    assert "Key (" not in error["message"]
    await _unchanged(service, db, run)


async def test_import_into_an_unknown_run_is_404(service: Service) -> None:
    for run_id in [str(uuid.uuid4()), "no-such-run"]:
        status, body = await _import(service, run_id, encode([line(0, 1)]))
        error = assert_error(status, body, 404, "not_found")
        assert run_id in error["message"]


async def test_import_into_a_locked_run_is_409(service: Service, db: asyncpg.Pool) -> None:
    run = await create_evaluation(service)
    status, locked = await service.request(
        "PATCH", f"/evaluations/runs/{run['id']}", json={"locked": True}
    )
    assert status == 200 and locked["locked"] is True
    status, body = await _import(service, run["id"], encode([line(0, 1)]))
    error = assert_error(status, body, 409, "evaluation_run_locked")
    assert run["id"] in error["message"]
    await _unchanged(service, db, run)

    status, _ = await service.request(
        "PATCH", f"/evaluations/runs/{run['id']}", json={"locked": False}
    )
    assert status == 200
    status, result = await _import(service, run["id"], encode([line(0, 1)]))
    assert status == 201, result
    assert result["imported"] == 1
