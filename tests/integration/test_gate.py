"""``releval-judge gate`` as a CI job runs it: a separate process asking a live service (real
PostgreSQL) to compare two rankers' evaluation runs, graded by an AI judge and corrected
by people, and exiting 1 only when the candidate is worse."""

from __future__ import annotations

import os

import asyncpg
import ir_measures
import pytest

from tests.support.cli import Result, run
from tests.support.metrics_data import Doc, RunData, load, reference
from tests.support.service import TOKEN, Service, free_port

pytestmark = pytest.mark.slow

QUERIES = [f"q{i:02d}" for i in range(12)]
NDCG10 = {"ndcg@10": ir_measures.nDCG @ 10}


def ranker(name: str, *, bad_queries: set[str]) -> RunData:
    """Five documents per query, graded 3, 2, 0–2, 1, 0 (the truth); the AI judge gets
    d1 of even queries wrong (0) and a person corrects it (2), so that the AI grades alone
    would tell another story. The ranker puts the best first, except on ``bad_queries``,
    where it puts them last."""
    docs = []
    for n, q in enumerate(QUERIES):
        truth = [3, 2, n % 3, 1, 0]
        order = sorted(range(5), key=lambda i: truth[i], reverse=q not in bad_queries)
        for rank, i in enumerate(order, start=1):
            wrong = i == 1 and n % 2 == 0
            doc = Doc(q, f"{name}-{q}-d{i}", rank, 0 if wrong else truth[i])
            if wrong:
                doc.human.append(("alice", truth[i]))
            docs.append(doc)
    return RunData(list(QUERIES), docs)


async def gate(service: Service | None, *args: str, token: str | None = TOKEN) -> Result:
    """``releval-judge gate ARGS`` in a child process, configured by its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVAL_")}
    env["RELEVAL_URL"] = service.base_url if service else f"http://127.0.0.1:{free_port()}"
    if token is not None:
        env["RELEVAL_TOKEN"] = token
    return await run("releval_judge", "gate", *args, env=env, timeout=60)


def rows(result: Result) -> list[list[str]]:
    """The table's rows (query, baseline, candidate, difference), header and rule left out."""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["QUERY", "BASELINE", "CANDIDATE", "DIFFERENCE"]
    assert set(lines[1]) == {"-"}
    return [line.split() for line in lines[2:-1]]


def expected_rows(baseline: RunData, candidate: RunData) -> list[list[str]]:
    """The table from ir_measures' nDCG@10 of the true grades, worst change first."""
    _, base = reference(baseline, NDCG10, source="human_else_ai")
    _, cand = reference(candidate, NDCG10, source="human_else_ai")
    changes = sorted(
        (cand[q]["ndcg@10"] - base[q]["ndcg@10"], q, base[q]["ndcg@10"], cand[q]["ndcg@10"])
        for q in QUERIES
    )
    return [[q, f"{b:.4f}", f"{c:.4f}", f"{d:+.4f}"] for d, q, b, c in changes]


async def test_exit_one_only_when_the_candidate_is_clearly_worse(
    service: Service, db: asyncpg.Pool
) -> None:
    good = ranker("good", bad_queries=set())
    bad = ranker("bad", bad_queries=set(QUERIES))
    same = ranker("same", bad_queries=set())
    good_id = await load(service, db, good, name="ranker good")
    bad_id = await load(service, db, bad, name="ranker bad")
    same_id = await load(service, db, same, name="ranker good, again")

    worse = await gate(service, "--baseline", good_id, "--candidate", bad_id)
    equal = await gate(service, "--baseline", good_id, "--candidate", same_id)
    better = await gate(service, "--baseline", bad_id, "--candidate", good_id)

    assert worse.code == 1, worse.stderr
    assert rows(worse) == expected_rows(good, bad)
    assert all(float(row[3]) < 0 for row in rows(worse))
    summary = worse.stdout.splitlines()[-1]
    assert summary.startswith("ndcg@10 over 12 queries (source human_else_ai): baseline 1.0000")
    assert "FAIL: the candidate is significantly worse (p < 0.05)" in summary
    p_value = float(summary.split("p = ")[1].split()[0])
    assert p_value < 0.001  # every query worse: 2 of the 4,096 sign assignments are as far

    assert equal.code == 0, equal.stderr
    assert rows(equal) == [[q, "1.0000", "1.0000", "+0.0000"] for q in QUERIES]
    assert "difference +0.0000, p = 1 " in equal.stdout
    assert equal.stdout.rstrip().endswith("PASS: no significant difference at 0.05")

    assert better.code == 0, better.stderr
    assert rows(better) == expected_rows(bad, good)
    assert better.stdout.rstrip().endswith("PASS: the candidate is significantly better (p < 0.05)")
    assert worse.stderr == equal.stderr == better.stderr == ""


async def test_max_drop_fails_a_drop_too_small_to_be_significant(
    service: Service, db: asyncpg.Pool
) -> None:
    good = ranker("good", bad_queries=set())
    slightly = ranker("slightly", bad_queries={"q03"})
    good_id = await load(service, db, good, name="ranker good")
    slightly_id = await load(service, db, slightly, name="ranker slightly worse")
    [[_, _, _, drop_text]] = [row for row in expected_rows(good, slightly) if row[0] == "q03"]
    mean_drop = -float(drop_text) / len(QUERIES)  # one query of twelve, about 0.039

    plain = await gate(service, "--baseline", good_id, "--candidate", slightly_id)
    tight = await gate(
        service, "--baseline", good_id, "--candidate", slightly_id, "--max-drop", "0.02"
    )
    loose = await gate(
        service, "--baseline", good_id, "--candidate", slightly_id, "--max-drop", "0.1"
    )

    assert plain.code == 0, plain.stderr
    assert "p = 1 " in plain.stdout and "PASS: no significant difference" in plain.stdout
    assert rows(plain)[0][0] == "q03" and {row[3] for row in rows(plain)[1:]} == {"+0.0000"}
    assert 0.02 < mean_drop < 0.1
    assert f"difference {-mean_drop:+.4f}" in plain.stdout
    assert tight.code == 1, tight.stderr
    assert tight.stdout.rstrip().endswith(
        "FAIL: the candidate dropped by more than --max-drop 0.02"
    )
    assert loose.code == 0, loose.stderr
    assert loose.stdout.rstrip().endswith("PASS: no significant difference at 0.05")


async def test_exit_two_names_the_cause_and_the_next_step(
    service: Service, db: asyncpg.Pool
) -> None:
    good_id = await load(service, db, ranker("good", bad_queries=set()))
    bad_id = await load(service, db, ranker("bad", bad_queries=set(QUERIES)))
    runs = ("--baseline", good_id, "--candidate", bad_id)

    unknown = await gate(service, "--baseline", good_id, "--candidate", "no-such-run")
    measure = await gate(service, *runs, "--measure", "ndcg@ten")
    listed = await gate(service, *runs, "--measure", "ndcg@10,ap")
    no_token = await gate(service, *runs, token=None)
    bad_token = await gate(service, *runs, token="wrong")
    unreachable = await gate(None, *runs)
    usage = await gate(service, *runs, "--max-drop", "-0.1")

    for result in (unknown, measure, listed, no_token, bad_token, unreachable, usage):
        assert result.code == 2, (result.stdout, result.stderr)
        assert result.stdout == ""
    assert "no-such-run" in unknown.stderr and "check --baseline" in unknown.stderr
    assert "ndcg@ten" in measure.stderr and "check --measure" in measure.stderr
    assert "one measure, not a list" in listed.stderr
    assert "set RELEVAL_TOKEN or pass --token" in no_token.stderr
    assert "HTTP 401" in bad_token.stderr and "check RELEVAL_TOKEN" in bad_token.stderr
    assert "cannot reach the service" in unreachable.stderr and "RELEVAL_URL" in unreachable.stderr
    assert "--max-drop" in usage.stderr and "below 0" in usage.stderr


async def test_too_few_queries_are_said_so(service: Service, db: asyncpg.Pool) -> None:
    few = RunData(
        QUERIES[:3], [d for d in ranker("a", bad_queries=set()).docs if d.query_id < "q03"]
    )
    worse = RunData(
        QUERIES[:4],
        [d for d in ranker("b", bad_queries=set(QUERIES)).docs if d.query_id < "q04"],
    )
    few_id = await load(service, db, few)
    worse_id = await load(service, db, worse)

    result = await gate(service, "--baseline", few_id, "--candidate", worse_id)

    # Three queries all worse: the test cannot go below p = 0.25, so the gate passes, and
    # says why, and that q03 of the candidate was left out.
    assert result.code == 0, result.stderr
    assert len(rows(result)) == 3
    assert "3 shared queries are too few for the test ever to reach p < 0.05" in result.stderr
    assert f"1 of {worse_id} left out" in result.stderr
