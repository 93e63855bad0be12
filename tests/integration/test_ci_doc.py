"""docs/ci.md's "Trying the gate locally" works as written, from a bare shell, against the
simulator and a service started as the page starts them: the gate passes a worse ranker
that three queries cannot show significantly worse, and fails it with --max-drop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_with_simulator, walk, walkthrough

PAGE = REPO / "docs" / "ci.md"


def shown_output(page: str) -> list[str]:
    """The table and summary the page shows for the first gate (a ``text`` block)."""
    block = re.search(r"```text\n(QUERY.*?)```", page, re.S)
    assert block is not None
    return block.group(1).splitlines()


@pytest.mark.usefixtures("no_active_runs")
async def test_the_gate_walkthrough_runs_as_written(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(PAGE, "Trying the gate locally", 4)
    served, _ = await serve_with_simulator(page, processes, local_servers, tmp_path)
    # The page's commands are the checkout's (.venv/bin/releval-judge).
    (tmp_path / ".venv").symlink_to(REPO / ".venv")

    parts = await walk(page.steps, served, tmp_path, timeout=180)
    _, judged, gated, failed = (p.strip() for p in parts)

    assert judged.splitlines()[0].startswith("completed: 12 judged, 0 failed of 12")
    # The dense ranker returns bm25's documents: its run reuses every grade (DESIGN.md
    # "Reuse"), which is what keeps the CI job cheap (the page says so).
    assert judged.splitlines()[1].startswith("completed: 12 judged (12 reused), 0 failed of 12")

    # The page shows what the gate prints on the simulator's grades (the same every time:
    # the grades are lexical and the test's seed is fixed).
    shown = shown_output(PAGE.read_text())
    assert gated.splitlines() == shown
    assert failed.splitlines()[:-2] == shown[:-1]
    assert failed.splitlines()[-2] == shown[-1].replace(
        "PASS: no significant difference at 0.05",
        "FAIL: the candidate dropped by more than --max-drop 0.05",
    )
    assert failed.splitlines()[-1] == "the gate failed: exit code 1"
