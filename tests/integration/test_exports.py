"""Exports: CSV, JSON Lines and TREC qrels, streamed; qrels that trec_eval reads as meant."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import asyncpg
import ir_measures
import pytest
from aiohttp import web
from ir_measures import P, nDCG

from releval_judge.store.review import EXPORT_PAGE
from tests.support.api import assert_error, create_evaluation
from tests.support.fakes import FakeProviders, completion, document_ids
from tests.support.reviewing import (
    JUDGMENT_FIELDS,
    candidate_ids,
    grade_by_rank,
    judge_with,
    put_human,
    raw,
)
from tests.support.service import Service, ServiceFactory
from tests.support.waiting import wait_for

TRICKY = 'said "no", twice\nreally'


async def _judged(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> tuple[Service, str, str]:
    """2 queries × 3 candidates graded 3, 2, 1 by rank; alice grades 3, bob 1 candidate."""
    provider = await fake_provider(grade_by_rank)
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    _, run = await judge_with(service, provider, evaluation["id"], name="ranker", batch_size=3)
    assert run["judged"] == 6
    ids = await candidate_ids(db, evaluation["id"])
    for doc, judge, grade, reasoning in [
        ("d1-1", "alice", 2, "close"),
        ("d1-2", "alice", 2, ""),
        ("d2-1", "alice", 0, TRICKY),
        ("d1-1", "bob", 3, "spot on"),
    ]:
        status, body = await put_human(service, evaluation["id"], ids[doc], judge, grade, reasoning)
        assert status == 200, body
    return service, evaluation["id"], run["id"]


async def _export(service: Service, path: str, **params: Any) -> tuple[dict[str, str], str]:
    status, headers, body = await raw(service, path, **params)
    assert status == 200, body[:500]
    return headers, body.decode()


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_jsonl_and_csv_hold_what_the_listing_shows(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, _ = await _judged(services, db, fake_provider)
    path = f"/evaluations/runs/{eval_id}/judgments/export"
    status, listing = await service.request(
        "GET", f"/evaluations/runs/{eval_id}/judgments", params={"limit": "1000"}
    )
    assert status == 200

    headers, text = await _export(service, path, format="jsonl")
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Content-Disposition"] == f'attachment; filename="judgments-{eval_id}.jsonl"'
    assert "Content-Length" not in headers  # streamed
    rows = _jsonl(text)
    assert len(rows) == 10  # 6 AI + 4 human
    assert all(list(r) == JUDGMENT_FIELDS for r in rows)
    key = lambda j: (j["candidate_id"], j["source"], j["judge"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(listing["items"], key=key)
    assert [(r["query_id"], r["rank"]) for r in rows] == sorted(
        (r["query_id"], r["rank"]) for r in rows
    )

    headers, text = await _export(service, path, format="csv")
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert text.startswith(",".join(JUDGMENT_FIELDS) + "\r\n")
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(table) == 10
    as_text = [
        {k: "" if v is None else str(v) for k, v in r.items()} for r in rows
    ]  # CSV has no types
    assert table == as_text
    assert TRICKY in [r["reasoning"] for r in table]


async def test_filters_narrow_the_export(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, _ = await _judged(services, db, fake_provider)
    path = f"/evaluations/runs/{eval_id}/judgments/export"

    async def rows(**params: Any) -> list[tuple[str, str, str, int]]:
        _, text = await _export(service, path, **params)
        return [(r["source"], r["judge"], r["doc_id"], r["grade"]) for r in _jsonl(text)]

    assert {s for s, _, _, _ in await rows(source="human")} == {"human"}
    assert len(await rows(source="human")) == 4
    assert len(await rows(source="ai")) == 6
    assert {g for *_, g in await rows(min_grade=2)} == {2, 3}
    assert await rows(source="ai", min_grade=3) == [
        ("ai", "ranker", "d1-1", 3),
        ("ai", "ranker", "d2-1", 3),
    ]
    assert await rows(max_grade=0) == [("human", "alice", "d2-1", 0)]
    assert [d for _, _, d, _ in await rows(judge="alice")] == ["d1-1", "d1-2", "d2-1"]


async def test_qrels_are_one_grade_per_document_and_trec_eval_reads_them(
    services: ServiceFactory, db: asyncpg.Pool, tmp_path: Path, fake_provider: FakeProviders
) -> None:
    service, eval_id, _ = await _judged(services, db, fake_provider)
    path = f"/evaluations/runs/{eval_id}/judgments/export"
    headers, text = await _export(service, path, format="qrels")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    # Default source=ai: the current AI judgment of each candidate, the humans left out.
    assert text == (
        "q1 0 d1-1 3\nq1 0 d1-2 2\nq1 0 d1-3 1\nq2 0 d2-1 3\nq2 0 d2-2 2\nq2 0 d2-3 1\n"
    )

    # Two human judges graded d1-1: which one must be said.
    status, headers, body = await raw(service, path, format="qrels", source="human")
    error = assert_error(status, json.loads(body), 422, "validation_error")
    assert "alice, bob" in error["message"]
    _, alice = await _export(service, path, format="qrels", source="human", judge="alice")
    assert alice == "q1 0 d1-1 2\nq1 0 d1-2 2\nq2 0 d2-1 0\n"

    # The round trip: trec_eval (through ir_measures and pytrec_eval) reads our file.
    qrels_file = tmp_path / "ai.qrels"
    qrels_file.write_text(text)
    qrels = list(ir_measures.read_trec_qrels(str(qrels_file)))  # type: ignore[no-untyped-call]
    assert {(q.query_id, q.doc_id, q.relevance) for q in qrels} == {
        ("q1", "d1-1", 3),
        ("q1", "d1-2", 2),
        ("q1", "d1-3", 1),
        ("q2", "d2-1", 3),
        ("q2", "d2-2", 2),
        ("q2", "d2-3", 1),
    }
    # A run that ranks the documents in reverse: the grades read back give the nDCG that
    # the textbook formula gives for gains 1, 2, 3 against the ideal 3, 2, 1.
    run_file = tmp_path / "reverse.run"
    run_file.write_text(
        "".join(f"q{q} Q0 d{q}-{r} {4 - r} {float(r)} reverse\n" for q in (1, 2) for r in (3, 2, 1))
    )
    run = list(ir_measures.read_trec_run(str(run_file)))  # type: ignore[no-untyped-call]
    figures = ir_measures.calc_aggregate([nDCG @ 3, P(rel=2) @ 3], qrels, run)
    dcg = 1 / math.log2(2) + 2 / math.log2(3) + 3 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert figures[nDCG @ 3] == pytest.approx(dcg / ideal)
    assert figures[P(rel=2) @ 3] == pytest.approx(2 / 3)
    human_qrels = list(ir_measures.read_trec_qrels(alice))  # type: ignore[no-untyped-call]
    assert ir_measures.calc_aggregate([P(rel=2) @ 3], human_qrels, run)[P(rel=2) @ 3] == (
        pytest.approx((2 / 3 + 0) / 2)
    )


async def test_bad_parameters_are_422_and_unknown_runs_404(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, judging_run_id = await _judged(services, db, fake_provider)
    for path in [
        f"/evaluations/runs/{eval_id}/judgments/export",
        f"/ai-judging-runs/{judging_run_id}/judgments/export",
    ]:
        for params in [
            {"format": "xml"},
            {"format": ""},
            {"format": "CSV "},
            {"min_grade": "high"},
            {"max_grade": str(2**40)},
            {"colour": "blue"},
        ]:
            status, _, body = await raw(service, path, **params)
            error = assert_error(status, json.loads(body), 422, "validation_error")
            assert error["details"][0]["loc"][0] == "query"
    status, _, body = await raw(
        service, f"/evaluations/runs/{eval_id}/judgments/export", source="robot"
    )
    assert_error(status, json.loads(body), 422, "validation_error")
    for path in [
        "/evaluations/runs/00000000-0000-0000-0000-000000000000/judgments/export",
        "/ai-judging-runs/00000000-0000-0000-0000-000000000000/judgments/export",
        "/ai-judging-runs/not-an-id/judgments/export",
    ]:
        status, _, body = await raw(service, path, format="qrels")
        assert_error(status, json.loads(body), 404, "not_found")


async def test_ids_with_white_space_cannot_go_to_qrels(service: Service) -> None:
    body = {
        "name": "spaces",
        "scale": {"min": 0, "max": 1},
        "queries": [{"query_id": "q 1", "text": "q", "candidates": [{"doc_id": "d", "rank": 1}]}],
    }
    status, evaluation = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201
    path = f"/evaluations/runs/{evaluation['id']}/judgments/export"
    status, _, raw_body = await raw(service, path, format="qrels")
    error = assert_error(status, json.loads(raw_body), 422, "validation_error")
    assert "'q 1'" in error["message"] and "jsonl" in error["message"]
    status, _, raw_body = await raw(service, path, format="jsonl")
    assert (status, raw_body) == (200, b"")


async def test_a_judging_runs_export_keeps_what_a_later_run_overwrote(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    service, eval_id, first_id = await _judged(services, db, fake_provider)
    provider = await fake_provider()  # grades every candidate 2
    _, second = await judge_with(service, provider, eval_id, name="later")
    path = f"/ai-judging-runs/{first_id}/judgments/export"
    headers, text = await _export(service, path, format="jsonl")
    assert headers["Content-Disposition"] == f'attachment; filename="judging-run-{first_id}.jsonl"'
    first_rows = _jsonl(text)
    assert [(r["doc_id"], r["grade"], r["current"], r["judge"]) for r in first_rows] == [
        (f"d{q}-{r}", 4 - r, False, "ranker") for q in (1, 2) for r in (1, 2, 3)
    ]
    assert list(first_rows[0]) == [*JUDGMENT_FIELDS, "current"]

    _, text = await _export(
        service, f"/ai-judging-runs/{second['id']}/judgments/export", format="csv"
    )
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {(r["grade"], r["current"], r["source"]) for r in table} == {("2", "true", "ai")}
    _, qrels = await _export(service, path, format="qrels", min_grade=2)
    assert qrels == "q1 0 d1-1 3\nq1 0 d1-2 2\nq2 0 d2-1 3\nq2 0 d2-2 2\n"
    # The current-judgments export now shows the later run's grades.
    _, current = await _export(
        service, f"/evaluations/runs/{eval_id}/judgments/export", format="qrels"
    )
    assert {line.split()[3] for line in current.splitlines()} == {"2"}


async def test_a_large_export_is_streamed_in_chunks(service: Service, db: asyncpg.Pool) -> None:
    """20,000 judgments arrive as a chunked stream, complete and in order."""
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "big", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201
    eval_id = evaluation["id"]
    await db.execute(
        """
        WITH q AS (
            INSERT INTO queries (evaluation_run_id, query_id, text)
            SELECT $1::uuid, 'q' || lpad(g::text, 5, '0'), 'query ' || g
            FROM generate_series(1, 2000) g RETURNING query_id
        )
        INSERT INTO candidates (evaluation_run_id, query_id, doc_id, rank, text)
        SELECT $1::uuid, q.query_id, q.query_id || '-d' || r, r, repeat('text ', 20)
        FROM q, generate_series(1, 10) r
        """,
        eval_id,
    )
    run_id = await db.fetchval(
        """INSERT INTO ai_judging_runs (evaluation_run_id, ai_judge_name, judge_config, status)
           VALUES ($1::uuid, 'bulk', '{}'::jsonb, 'completed') RETURNING id::text""",
        eval_id,
    )
    await db.execute(
        """
        WITH r AS (SELECT seq FROM ai_judging_runs WHERE id = $2::uuid)
        INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id, run_seq,
                                  judge, grade, reasoning)
        SELECT c.id, $1::uuid, $2::uuid, r.seq, 'bulk', c.rank % 4, 'bulk reasoning'
        FROM candidates c, r WHERE c.evaluation_run_id = $1::uuid
        """,
        eval_id,
        run_id,
    )
    chunks = 0
    lines: list[str] = []
    async with service.client.get(
        f"{service.api}/evaluations/runs/{eval_id}/judgments/export", params={"format": "csv"}
    ) as resp:
        assert resp.status == 200
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        buffer = b""
        async for chunk in resp.content.iter_any():
            chunks += 1
            buffer += chunk
        lines = buffer.decode().splitlines()
    assert chunks > 1
    assert len(lines) == 20_001
    assert lines[1].split(",")[1:6] == ["q00001", "query 1", "q00001-d1", "1", "1"]
    assert lines[-1].split(",")[1:4] == ["q02000", "query 2000", "q02000-d10"]


async def test_a_client_that_hangs_up_mid_export_leaves_no_transaction_open(
    service: Service, db: asyncpg.Pool
) -> None:
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json={"name": "hang-up", "scale": {"min": 0, "max": 3}}
    )
    assert status == 201
    eval_id = evaluation["id"]
    await db.execute(
        "INSERT INTO queries (evaluation_run_id, query_id, text) VALUES ($1::uuid, 'q', 'q')",
        eval_id,
    )
    await db.execute(
        """INSERT INTO candidates (evaluation_run_id, query_id, doc_id, rank, text)
           SELECT $1::uuid, 'q', 'd' || r, r, repeat('long text ', 50)
           FROM generate_series(1, 20000) r""",
        eval_id,
    )
    await db.execute(
        """INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade, reasoning)
           SELECT id, $1::uuid, 'alice', 1, repeat('because ', 250) FROM candidates
           WHERE evaluation_run_id = $1::uuid""",
        eval_id,
    )

    async def open_transactions() -> int:
        count: int = await db.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND state LIKE 'idle in transaction%'"""
        )
        return count

    async with service.client.get(
        f"{service.api}/evaluations/runs/{eval_id}/judgments/export", params={"format": "jsonl"}
    ) as resp:
        assert resp.status == 200
        first = await resp.content.readany()
        assert first.startswith(b'{"candidate_id":')
        resp.close()  # hang up with most of the export unread

    async def released() -> bool:
        return await open_transactions() == 0

    await wait_for(released)
    # The service still answers, with the pool's connection back.
    status, page = await service.request("GET", f"/evaluations/runs/{eval_id}/judgments")
    assert status == 200 and len(page["items"]) == 50


async def test_an_export_read_in_pages_has_every_judgment_once_in_order(
    service: Service, db: asyncpg.Pool
) -> None:
    """Pages of EXPORT_PAGE rows whose ends fall between the judgments of one candidate
    (an AI and two human judgments each): none lost, none twice, in the export's order;
    a judging run's export over more than a page too."""
    candidates = EXPORT_PAGE + 100
    evaluation = await create_evaluation(service, queries=1, per_query=candidates)
    eval_id = evaluation["id"]
    run_id = await db.fetchval(
        """INSERT INTO ai_judging_runs (evaluation_run_id, ai_judge_name, judge_config, status)
           VALUES ($1::uuid, 'bulk', '{}'::jsonb, 'completed') RETURNING id::text""",
        eval_id,
    )
    await db.execute(
        """
        WITH r AS (SELECT seq FROM ai_judging_runs WHERE id = $2::uuid),
        run AS (
            INSERT INTO ai_run_judgments (ai_judging_run_id, candidate_id, grade, reasoning)
            SELECT $2::uuid, c.id, c.rank % 4, 'ai' FROM candidates c
            WHERE c.evaluation_run_id = $1::uuid
        ),
        human AS (
            INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade)
            SELECT c.id, $1::uuid, j, 1 FROM candidates c, unnest(ARRAY['alice', 'bob']) j
            WHERE c.evaluation_run_id = $1::uuid
        )
        INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id, run_seq,
                                  judge, grade, reasoning)
        SELECT c.id, $1::uuid, $2::uuid, r.seq, 'bulk', c.rank % 4, 'ai'
        FROM candidates c, r WHERE c.evaluation_run_id = $1::uuid
        """,
        eval_id,
        run_id,
    )
    _, text = await _export(
        service, f"/evaluations/runs/{eval_id}/judgments/export", format="jsonl"
    )
    rows = _jsonl(text)
    keys = [(r["query_id"], r["rank"], r["candidate_id"], r["source"], r["judge"]) for r in rows]
    assert len(keys) == 3 * candidates > EXPORT_PAGE
    assert keys == sorted(set(keys))  # in order, and each once
    assert {(k[3], k[4]) for k in keys} == {("ai", "bulk"), ("human", "alice"), ("human", "bob")}

    _, text = await _export(service, f"/ai-judging-runs/{run_id}/judgments/export", format="jsonl")
    ranks = [r["rank"] for r in _jsonl(text)]
    assert ranks == list(range(1, candidates + 1))


HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "@SUM(A1)", "-2+3"]


async def _hostile_answer(prompt: str, call_no: int) -> web.Response:
    # Candidate 1 gets the lowest grade, -1 (a number, never a formula); each candidate's
    # reasoning is one of the hostile strings.
    return completion(
        "\n".join(
            f'<candidate id="{cid}">\n<grade>{-1 if cid == "1" else 2}</grade>\n'
            f"<reasoning>{HOSTILE[(int(cid) - 1) % len(HOSTILE)]}</reasoning>\n</candidate>"
            for cid in document_ids(prompt)
        )
    )


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    services: ServiceFactory, db: asyncpg.Pool, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(_hostile_answer)
    service = await services.start()
    status, evaluation = await service.request(
        "POST",
        "/evaluations/runs",
        json={
            "name": "hostile cells",
            "status": "completed",
            "scale": {"min": -1, "max": 2, "labels": {"-1": "-harmful", "2": "@good"}},
            "queries": [
                {
                    "query_id": "q1",
                    "text": HOSTILE[0],
                    "candidates": [
                        {"doc_id": doc, "rank": rank, "title": HOSTILE[0], "text": doc}
                        for rank, doc in enumerate(HOSTILE[1:4], start=1)
                    ],
                }
            ],
        },
    )
    assert status == 201, evaluation
    _, run = await judge_with(service, provider, evaluation["id"], name=HOSTILE[0], batch_size=3)
    assert run["judged"] == 3, run
    path = f"/evaluations/runs/{evaluation['id']}/judgments/export"

    _, text = await _export(service, path, format="jsonl")
    rows = sorted(_jsonl(text), key=lambda r: r["rank"])
    _, text = await _export(service, path, format="csv")
    table = sorted(csv.DictReader(io.StringIO(text, newline="")), key=lambda r: r["rank"])

    # JSON Lines: every value as it is, grades as numbers.
    assert [(r["doc_id"], r["grade"], r["label"], r["reasoning"]) for r in rows] == [
        ("+1", -1, "-harmful", HOSTILE[0]),
        ("@SUM(A1)", 2, "@good", "+1"),
        ("-2+3", 2, "@good", "@SUM(A1)"),
    ]
    assert {(r["query"], r["judge"]) for r in rows} == {(HOSTILE[0], HOSTILE[0])}
    # CSV: each text cell that a spreadsheet would read as a formula starts with a quote;
    # rank and grade are numbers, -1 included; other cells are untouched.
    assert [(r["doc_id"], r["grade"], r["label"], r["reasoning"]) for r in table] == [
        ("'+1", "-1", "'-harmful", "'" + HOSTILE[0]),
        ("'@SUM(A1)", "2", "'@good", "'+1"),
        ("'-2+3", "2", "'@good", "'@SUM(A1)"),
    ]
    assert {(r["query"], r["judge"]) for r in table} == {("'" + HOSTILE[0], "'" + HOSTILE[0])}
    assert [r["rank"] for r in table] == ["1", "2", "3"]
    assert {r["query_id"] for r in table} == {"q1"}
    assert all(r["candidate_id"] == row["candidate_id"] for r, row in zip(table, rows, strict=True))
    # qrels: the ids and grades as they are.
    _, qrels = await _export(service, path, format="qrels")
    assert sorted(qrels.splitlines()) == ["q1 0 +1 -1", "q1 0 -2+3 2", "q1 0 @SUM(A1) 2"]
