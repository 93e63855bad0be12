"""``make demo`` end to end: a child process starts its own embedded PostgreSQL, the
simulator and the service, judges the bundled sample run, and stops everything."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from releval_judge.demo.run import DemoError, choose_provider
from releval_judge.demo.sample import sample_run
from releval_judge.errors import EvaluationRunLocked, ValidationFailed
from releval_judge.store.database import create_pool
from releval_judge.store.human import HumanJudgments, HumanJudgmentWrite
from tests.support.cli import run
from tests.support.service import Service

pytestmark = pytest.mark.slow


async def demo(data_dir: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RELEVAL_DATABASE_URL", "DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
    }
    environ.update({"RELEVAL_DATA_DIR": str(data_dir), "NO_COLOR": "1", **env})
    result = await run("releval_judge.demo", *args, env=environ, timeout=120)
    return result.code, result.stdout, result.stderr


def figure(output: str, label: str) -> int:
    match = re.search(rf"^  {label}\s+([\d,]+)$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return int(match.group(1).replace(",", ""))


async def test_demo_judges_the_sample_run_and_stops_what_it_started(tmp_path: Path) -> None:
    code, out, err = await demo(tmp_path, "--latency-ms", "20")
    assert code == 0, out + err

    sample = sample_run("full")
    assert f"{sample.candidate_count} candidates" in out
    assert f"{len(sample.human_judgments)} human judgments" in out
    assert "status       completed" in out
    assert figure(out, "candidates") == 300
    judged, failed = figure(out, "judged"), figure(out, "failed")
    assert judged + failed == 300
    assert judged >= 240  # the simulator drops about one candidate in a hundred
    assert "AI judge vs the human judge" in out
    assert "Where to look next" in out
    assert f"RELEVAL_DATA_DIR={tmp_path} make run" in out

    # The service it started logged a clean shutdown, and the database it started is down.
    log = (tmp_path / "demo-service.log").read_text()
    assert '"event": "service_stopped"' in log
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()


async def test_demo_with_batch_goes_through_the_simulators_batch_api(tmp_path: Path) -> None:
    code, out, err = await demo(tmp_path, "--sample", "small", "--batch")
    assert code == 0, out + err

    assert "status       completed" in out
    judged, failed = figure(out, "judged"), figure(out, "failed")
    assert judged + failed == 50 and judged >= 40
    log = (tmp_path / "demo-service.log").read_text()
    assert '"event": "provider_batch_submitted"' in log
    assert '"event": "provider_batch_read"' in log


async def test_demo_with_two_replicas_survives_the_kill_of_the_one_judging(
    tmp_path: Path,
) -> None:
    code, out, err = await demo(tmp_path, "--replicas", "2", "--latency-ms", "100")
    assert code == 0, out + err

    assert "replica down" in out and "killed with SIGKILL" in out
    assert re.search(r"taken over +by \S+:\d+ at \d+%, without any restart", out), out
    assert "status       completed" in out
    assert figure(out, "judged") + figure(out, "failed") == 300
    logs = [(tmp_path / name).read_text() for name in ("demo-service.log", "demo-service-2.log")]
    assert sum(log.count('"event": "judging_run_claimed"') for log in logs) == 2


async def test_demo_refuses_a_provider_whose_key_is_missing(tmp_path: Path) -> None:
    code, _, err = await demo(tmp_path, "--provider", "openai")
    assert code == 2
    assert "OPENAI_API_KEY" in err
    assert not (tmp_path / "pgdata").exists()  # nothing was started


def test_a_key_in_the_environment_picks_the_real_provider() -> None:
    assert choose_provider("auto", None, {}).kind == "sim"
    assert choose_provider("auto", None, {"ANTHROPIC_API_KEY": "k"}).kind == "anthropic"
    both = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
    assert choose_provider("auto", None, both).kind == "openai"
    assert choose_provider("sim", None, both).kind == "sim"
    assert choose_provider("auto", "gpt-4.1", both).model == "gpt-4.1"
    with pytest.raises(DemoError):
        choose_provider("anthropic", None, {})


def test_the_sample_run_is_stable_and_well_formed() -> None:
    full, small = sample_run("full"), sample_run("small")
    assert sample_run("full") == full  # same seed, same ranking
    assert (full.query_count, full.candidate_count, len(full.human_judgments)) == (30, 300, 120)
    assert (small.query_count, small.candidate_count) == (5, 50)
    for query in full.body["queries"]:
        ranks = [c["rank"] for c in query["candidates"]]
        assert ranks == list(range(1, 11))
        assert len({c["doc_id"] for c in query["candidates"]}) == 10
    assert len(full.traps) == 30


async def test_the_sample_human_judgments_load_all_or_nothing(
    service: Service, database_url: str
) -> None:
    sample = sample_run("small")
    status, evaluation = await service.request("POST", "/evaluations/runs", json=sample.body)
    assert status == 201, evaluation
    pool = await create_pool(database_url, size=2)
    try:
        store = HumanJudgments(pool)
        bad = HumanJudgmentWrite("q01", "no-such-doc", "annotator-1", 2)
        with pytest.raises(ValidationFailed, match="name no candidate"):
            await store.add(evaluation["id"], [*sample.human_judgments, bad], by="demo test")
        out_of_scale = HumanJudgmentWrite("q01", sample.human_judgments[0].doc_id, "other", 7)
        with pytest.raises(ValidationFailed, match="outside scale 0–3"):
            await store.add(evaluation["id"], [out_of_scale], by="demo test")

        assert await store.add(evaluation["id"], sample.human_judgments, by="demo test") == 20
        status, page = await service.request(
            "GET",
            f"/evaluations/runs/{evaluation['id']}/judgments",
            params={"source": "human", "limit": "100"},
        )
        assert status == 200
        assert len(page["items"]) == 20
        assert {item["judge"] for item in page["items"]} == {"annotator-1"}

        await service.request(
            "PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True}
        )
        with pytest.raises(EvaluationRunLocked):
            await store.add(evaluation["id"], sample.human_judgments[:1], by="demo test")
    finally:
        await pool.close()
