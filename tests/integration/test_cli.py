"""``releval-judge import``: TREC run + queries TSV + documents JSONL into the live service."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.support.cli import cli
from tests.support.service import TOKEN, Service


def write_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    run = tmp_path / "bm25.trec"
    run.write_text(
        "q1 Q0 D1 1 12.5 bm25\n"
        "q1 Q0 D2 2 11.0 bm25\n"
        "q1 Q0 D3 3 9.75 bm25\n"
        "\n"
        "q2 Q0 D2 1 8.0 bm25\n"
        "q2 Q0 D9 2 7.0 bm25\n"
    )
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\twireless headphones\nq2\tusb cable\nq3\tnot in the run\n")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        '{"doc_id": "D1", "title": "Acme headphones", "text": "Over-ear.", "brand": "Acme"}\n'
        '{"id": "D2", "title": "USB-C cable", "body": "1 m long.", "price": 4.5}\n'
        '{"_id": "D3", "contents": "No title here."}\n'
        '{"doc_id": "D4", "title": "never ranked"}\n'
    )
    return run, queries, docs


def client_args(service: Service) -> list[str]:
    return ["--url", service.base_url, "--token", TOKEN]


async def test_import_creates_a_run_with_every_candidate(
    service: Service, db: asyncpg.Pool, tmp_path: Path
) -> None:
    run, queries, docs = write_files(tmp_path)
    result = await cli(
        "import",
        "--run",
        str(run),
        "--queries",
        str(queries),
        "--docs",
        str(docs),
        "--scale-max",
        "4",
        "--labels",
        '{"0": "irrelevant", "4": "perfect"}',
        *client_args(service),
    )
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["queries_added"]) == (5, 2)

    status, evaluation = await service.request(
        "GET", f"/evaluations/runs/{summary['evaluation_run_id']}"
    )
    assert status == 200, evaluation
    assert evaluation["name"] == "bm25"
    assert evaluation["status"] == "completed"
    assert evaluation["scale"] == {
        "min": 0,
        "max": 4,
        "labels": {"0": "irrelevant", "4": "perfect"},
    }
    assert (evaluation["query_count"], evaluation["candidate_count"]) == (2, 5)

    rows = await db.fetch(
        "SELECT c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, "
        "c.fields::text AS fields FROM candidates c "
        "JOIN queries q USING (evaluation_run_id, query_id) "
        "WHERE c.evaluation_run_id = $1::uuid ORDER BY c.query_id, c.rank",
        evaluation["id"],
    )
    got = [(r["query_id"], r["query"], r["doc_id"], r["rank"], r["title"], r["text"]) for r in rows]
    assert got == [
        ("q1", "wireless headphones", "D1", 1, "Acme headphones", "Over-ear."),
        ("q1", "wireless headphones", "D2", 2, "USB-C cable", "1 m long."),
        ("q1", "wireless headphones", "D3", 3, None, "No title here."),
        ("q2", "usb cable", "D2", 1, "USB-C cable", "1 m long."),
        ("q2", "usb cable", "D9", 2, None, None),  # not in the documents file
    ]
    assert [json.loads(r["fields"]) for r in rows] == [
        {"brand": "Acme"},
        {"price": 4.5},
        {},
        {"price": 4.5},
        {},
    ]


async def test_import_appends_to_an_existing_run(service: Service, tmp_path: Path) -> None:
    run, queries, _ = write_files(tmp_path)
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "target", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201
    result = await cli(
        "import",
        "--run",
        str(run),
        "--queries",
        str(queries),
        "--evaluation-run",
        evaluation["id"],
        *client_args(service),
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["evaluation_run_id"] == evaluation["id"]
    status, after = await service.request("GET", f"/evaluations/runs/{evaluation['id']}")
    assert (after["name"], after["candidate_count"], after["query_count"]) == ("target", 5, 2)


async def test_a_bad_file_fails_naming_the_line_and_imports_nothing(
    service: Service, db: asyncpg.Pool, tmp_path: Path
) -> None:
    run, queries, _ = write_files(tmp_path)
    bad_docs = tmp_path / "bad.jsonl"
    bad_docs.write_text('{"doc_id": "D1"}\n{"doc_id": "D2", oops}\n')
    bad_run = tmp_path / "bad.trec"
    bad_run.write_text("q1 Q0 D1 1 1.0 x\nq1 Q0 D2 two 1.0 x\n")
    unknown_query = tmp_path / "unknown.trec"
    unknown_query.write_text("q1 Q0 D1 1 1.0 x\nq7 Q0 D2 1 1.0 x\n")
    before = await db.fetchval("SELECT count(*) FROM evaluation_runs")
    for files, where in [
        (["--run", str(run), "--queries", str(queries), "--docs", str(bad_docs)], "bad.jsonl:2"),
        (["--run", str(bad_run), "--queries", str(queries)], "bad.trec:2"),
        (["--run", str(unknown_query), "--queries", str(queries)], "unknown.trec:2"),
    ]:
        result = await cli("import", *files, *client_args(service))
        assert result.code == 1, result
        assert where in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert await db.fetchval("SELECT count(*) FROM evaluation_runs") == before


async def test_import_reports_the_services_error(service: Service, tmp_path: Path) -> None:
    run, queries, _ = write_files(tmp_path)
    result = await cli(
        "import",
        "--run",
        str(run),
        "--queries",
        str(queries),
        "--url",
        service.base_url,
        "--token",
        "wrong",
    )
    assert result.code == 1
    assert "invalid token" in result.stderr
    assert "Traceback" not in result.stderr

    result = await cli(
        "import", "--run", str(run), "--queries", str(queries), "--url", service.base_url
    )
    assert result.code == 2
    assert "RELEVAL_TOKEN" in result.stderr
