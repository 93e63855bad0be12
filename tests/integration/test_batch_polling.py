"""A batch-delivery run polls its provider batch soon and backs off (issue #24): with the
provider-friendly interval at its default 30 s, a batch the simulator ends after 1 s is
read at the poll 2 s after the first, not 30 s later. The waits are read from the run's
log events, never timed."""

from __future__ import annotations

from itertools import islice

import structlog

from releval_judge.engine.polling import poll_intervals
from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory


async def test_a_small_batch_is_read_at_the_first_quick_poll(
    services: ServiceFactory, local_servers: LocalServers
) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0, seed=7, batch_completion_s=1.0))
    service = await services.start(batch_poll_s=30.0)
    judge = await create_judge(
        service, f"http://127.0.0.1:{port}/v1", model="gpt-4.1-mini", delivery="batch"
    )
    evaluation = await create_evaluation(service, queries=4, per_query=3)

    with structlog.testing.capture_logs() as logs:
        run = await start_run(service, evaluation["id"], judge["id"])
        ended = await wait_until_ended(service, run["id"], timeout=60)

    assert ended["status"] == "completed" and ended["judged"] == 12, ended
    waits = [e["next_poll_s"] for e in logs if e["event"] == "provider_batches_polled"]
    # At least one wait (the batch is not done when first polled), each the schedule's.
    assert waits, logs
    assert waits == list(islice(poll_intervals(30.0), len(waits)))
    assert waits[0] == 2.0 and max(waits) < 30.0
