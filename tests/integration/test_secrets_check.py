"""A replica whose RELEVAL_SECRET_KEY cannot decrypt what the database holds refuses to
start, saying so, instead of failing runs that another replica judges fine."""

from __future__ import annotations

import pytest

from tests.support.process import ServiceProcesses

pytestmark = pytest.mark.slow


async def test_a_replica_with_another_key_refuses_to_start(
    processes: ServiceProcesses,
) -> None:
    first = processes.new("a")
    other_key = processes.new("b", env={"RELEVAL_SECRET_KEY": "not-the-shared-key"})
    same_key = processes.new("c")
    await first.start()
    status, _ = await first.request(
        "POST",
        "/ai-judges",
        json={"name": "keyed", "provider": "openai", "model": "m", "api_key": "sk-1"},
    )
    assert status == 201

    code = await other_key.start_refused()
    output = other_key.logs()
    last_line = output.strip().splitlines()[-1]

    await same_key.start()  # the shared key is accepted
    status, _ = await first.request("GET", "/ai-judges")
    assert code != 0
    assert '"event": "service_refused_to_start"' in output
    assert last_line.startswith("releval-judge: not started: RELEVAL_SECRET_KEY cannot decrypt")
    assert "same RELEVAL_SECRET_KEY" in last_line
    assert "not-the-shared-key" not in output  # the key itself is never printed
    assert status == 200  # the first replica was not disturbed
