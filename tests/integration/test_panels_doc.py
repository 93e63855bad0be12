"""docs/panels.md's panel walkthrough works as written, with curl and jq, from a bare shell,
against the simulator and a service started as the page starts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.process import ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO
from tests.support.walkthrough import serve_with_simulator, walk, walkthrough


@pytest.mark.usefixtures("no_active_runs")
async def test_the_panel_walkthrough_runs_as_written(
    processes: ServiceProcesses, local_servers: LocalServers, tmp_path: Path
) -> None:
    page = walkthrough(REPO / "docs" / "panels.md", "Judge panels", 2)
    served, _ = await serve_with_simulator(page, processes, local_servers, tmp_path)
    created, ran = await walk(page.steps, served, tmp_path, timeout=120)

    assert created.strip() == ""  # the judges and the run are made silently
    summary, flagged = ran.strip().split("\n}\n")
    result = json.loads(summary + "}")
    # The wait loop ends on an ended panel run: completed, with its agreement.
    assert result["status"] == "completed"
    agreement = result["agreement"]
    assert (agreement["candidates"], agreement["complete_candidates"]) == (6, 6)
    assert agreement["disagreements"] == 1
    assert agreement["fleiss_kappa"] is not None
    assert agreement["krippendorff_alpha_ordinal"] is not None
    # What the page says the simulator's judges disagree on.
    assert json.loads(flagged) == {"doc_id": "B-100", "grade": 3, "member_grades": [3, 0, 3]}
