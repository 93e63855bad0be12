"""Reading TREC run, queries TSV and documents JSONL files: errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from releval_judge.importer import (
    ImportFileError,
    candidate_lines,
    read_documents,
    read_queries,
    read_run,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_candidate_lines_join_the_three_files(tmp_path: Path) -> None:
    run = write(tmp_path, "run.trec", "q1 Q0 A 1 3.0 t\nq1 Q0 B 2 2.0 t\n\nq2 Q0 A 1 1.0 t\n")
    queries = write(tmp_path, "q.tsv", "q1\tfirst query\nq2\t  second\tquery  \n")
    docs = write(
        tmp_path,
        "d.jsonl",
        '{"docid": "A", "title": "Alpha", "contents": "aaa", "lang": "en"}\n'
        "\n"
        '{"_id": "B", "body": "bbb", "tags": ["x"]}\n'
        '{"id": 7, "title": "unused"}\n',
    )
    lines = list(candidate_lines(run, queries, docs))
    assert lines == [
        {
            "query_id": "q1",
            "query": "first query",
            "doc_id": "A",
            "rank": 1,
            "title": "Alpha",
            "text": "aaa",
            "fields": {"lang": "en"},
        },
        {
            "query_id": "q1",
            "query": "first query",
            "doc_id": "B",
            "rank": 2,
            "title": None,
            "text": "bbb",
            "fields": {"tags": ["x"]},
        },
        {
            "query_id": "q2",
            "query": "second\tquery",
            "doc_id": "A",
            "rank": 1,
            "title": "Alpha",
            "text": "aaa",
            "fields": {"lang": "en"},
        },
    ]


def test_without_documents_only_ids_and_ranks_are_sent(tmp_path: Path) -> None:
    run = write(tmp_path, "run.trec", "q1 Q0 A 1 3.0 t\n")
    queries = write(tmp_path, "q.tsv", "q1\tquery\n")
    assert list(candidate_lines(run, queries, None)) == [
        {
            "query_id": "q1",
            "query": "query",
            "doc_id": "A",
            "rank": 1,
            "title": None,
            "text": None,
            "fields": {},
        }
    ]


def test_read_documents_keeps_only_the_wanted_ones(tmp_path: Path) -> None:
    docs = write(tmp_path, "d.jsonl", '{"doc_id": "A"}\n{"doc_id": "B"}\n{"id": 3}\n')
    assert set(read_documents(docs, {"B", "3"})) == {"B", "3"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("q1\tok\nq2 no tab\n", 2, "query_id<TAB>text"),
        ("q1\tok\n\nq3\t   \n", 3, "query_id<TAB>text"),
    ],
)
def test_bad_queries_file_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, "queries.tsv", text)
    with pytest.raises(ImportFileError) as caught:
        read_queries(path)
    assert f"queries.tsv:{line}:" in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("q1 Q0 A 1 1.0 t\nq1 Q0 B\n", 2, "query_id Q0 doc_id rank score tag"),
        ("q1 Q0 A 1 1.0 t\n\n\nq1 Q0 B first 1.0 t\n", 4, "rank 'first' is not an integer"),
        ("q1 Q0 A 1.5 1.0 t\n", 1, "rank '1.5'"),
    ],
)
def test_bad_run_file_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, "run.trec", text)
    with pytest.raises(ImportFileError) as caught:
        list(read_run(path))
    assert f"run.trec:{line}:" in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('{"doc_id": "A"}\n{"doc_id": "B",\n', 2, "malformed JSON"),
        ('{"doc_id": "A"}\n\n["B"]\n', 3, "expected a JSON object"),
        ('{"doc_id": "A"}\n{"title": "no id"}\n', 2, "no doc_id"),
    ],
)
def test_bad_documents_file_names_the_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, "docs.jsonl", text)
    with pytest.raises(ImportFileError) as caught:
        read_documents(path, {"A", "B"})
    assert f"docs.jsonl:{line}:" in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("run_text", "line", "words"),
    [
        ("q1 Q0 A 1 1.0 t\nq9 Q0 B 2 1.0 t\n", 2, "query 'q9' is not in"),
        ("q1 Q0 A 1 1.0 t\nq1 Q0 B 2 1.0 t\nq1 Q0 A 3 1.0 t\n", 3, "'A' appears twice"),
    ],
)
def test_candidate_lines_checks_every_file_before_the_first_line(
    tmp_path: Path, run_text: str, line: int, words: str
) -> None:
    """Errors come when the files are opened, not halfway through sending them."""
    run = write(tmp_path, "run.trec", run_text)
    queries = write(tmp_path, "queries.tsv", "q1\tquery\n")
    with pytest.raises(ImportFileError) as caught:
        candidate_lines(run, queries, None)
    assert f"run.trec:{line}:" in str(caught.value)
    assert words in str(caught.value)

    docs = write(tmp_path, "docs.jsonl", "{oops}\n")
    good_run = write(tmp_path, "good.trec", "q1 Q0 A 1 1.0 t\n")
    with pytest.raises(ImportFileError, match=r"docs\.jsonl:1: malformed JSON"):
        candidate_lines(good_run, queries, docs)


def test_the_same_document_may_be_ranked_for_two_queries(tmp_path: Path) -> None:
    run = write(tmp_path, "run.trec", "q1 Q0 A 1 1.0 t\nq2 Q0 A 1 1.0 t\n")
    queries = write(tmp_path, "queries.tsv", "q1\tone\nq2\ttwo\n")
    assert [line["query_id"] for line in candidate_lines(run, queries, None)] == ["q1", "q2"]
