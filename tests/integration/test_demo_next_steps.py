"""The demo's "Where to look next" commands run as printed, from the checkout, in a shell
with nothing exported but PATH and what the printed lines export."""

from __future__ import annotations

import io
from pathlib import Path

from releval_judge.demo.screen import CLI, SERVED_URL, Screen
from releval_judge.models import JudgingRun
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders
from tests.support.service import REPO, TOKEN, Service, ServiceFactory
from tests.support.walkthrough import bare_bash


async def judged_run(service: Service, fake_provider: FakeProviders) -> JudgingRun:
    provider = await fake_provider()
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, provider.base_url)
    run = await start_run(service, evaluation["id"], judge["id"])
    return JudgingRun.model_validate(await wait_until_ended(service, run["id"]))


def next_steps(run: JudgingRun, **options: object) -> str:
    stream = io.StringIO()
    Screen(stream).next_steps(run, **options)  # type: ignore[arg-type]
    return stream.getvalue()


def printed_commands(text: str) -> list[str]:
    """The lines a user would paste: exports, curl calls and the command-line client."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line.startswith(("export ", "curl ", CLI + " "))]


async def run_in_checkout(commands: list[str], served: str) -> str:
    """``commands`` in one bare bash in the checkout, ``make run``'s address replaced by
    ``served``; what they printed (every one must succeed)."""
    return await bare_bash("\n".join(commands).replace(SERVED_URL, served), REPO, timeout=60)


async def test_with_keep_every_printed_command_runs(
    service: Service, fake_provider: FakeProviders, tmp_path: Path
) -> None:
    run = await judged_run(service, fake_provider)
    text = next_steps(
        run,
        url=service.base_url,
        token=TOKEN,
        keep=True,
        external_database=False,
        data_dir=tmp_path,
    )
    commands = printed_commands(text)
    assert commands[0] == f"export RELEVAL_URL={service.base_url} RELEVAL_TOKEN={TOKEN}"
    assert [c.split()[1] for c in commands if c.startswith(CLI)] == ["runs", "metrics", "runs"]
    assert f"--judge {run.ai_judge_id} --watch" in text
    assert "\n    releval-judge" not in text  # never the bare command, which is not on PATH

    output = await run_in_checkout(commands, service.base_url)
    assert '"error":{' not in output
    assert f'"id":"{run.id}"' in output  # the curl calls reached the run
    assert "NDCG@10" in output and "mean (2 queries)" in output  # the metrics table
    assert output.count("completed") >= 2  # listed, and the new run watched to its end


async def test_after_the_demo_the_printed_commands_reach_make_runs_service(
    service: Service, services: ServiceFactory, fake_provider: FakeProviders, tmp_path: Path
) -> None:
    run = await judged_run(service, fake_provider)
    data_dir = tmp_path / "demo"
    # What `RELEVAL_DATA_DIR=<data_dir> make run` serves: the same database, no static
    # tokens, so the development token is made in that folder.
    served = await services.start(api_tokens="", data_dir=data_dir)
    text = next_steps(
        run,
        url="http://127.0.0.1:1",
        token="unused",
        keep=False,
        external_database=False,
        data_dir=data_dir,
    )
    assert f"RELEVAL_DATA_DIR={data_dir} make run" in text
    assert f"kept in {data_dir}/dev-token" in text
    assert "--watch" not in text  # the demo's simulator is gone: no run to start on it
    commands = printed_commands(text)
    assert commands[0] == (
        f"export RELEVAL_URL={SERVED_URL} RELEVAL_TOKEN=$(cat {data_dir}/dev-token)"
    )
    output = await run_in_checkout(commands, served.base_url)
    assert '"error":{' not in output
    assert f'"id":"{run.id}"' in output
    assert "NDCG@10" in output and "mean (2 queries)" in output
