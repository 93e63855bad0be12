"""The metrics, comparison, panel-run and review-queue pages render what the API answers."""

from __future__ import annotations

import aiohttp

from tests.support.api import create_evaluation
from tests.support.fakes import FakeProvider
from tests.support.panels import make_panel, marked_text, start_panel, wait_panel_ended
from tests.support.service import Service
from tests.support.ui import text


async def test_metrics_compare_panel_and_queue_pages(
    service: Service, page: aiohttp.ClientSession, panel_members: list[FakeProvider]
) -> None:
    evaluation = await create_evaluation(service, texts=marked_text)
    other = await create_evaluation(service, texts=marked_text)
    panel = await make_panel(service, panel_members)
    run = await start_panel(service, evaluation["id"], panel["id"])
    assert (await wait_panel_ended(service, run["id"]))["status"] == "completed"

    body = await text(page, f"/ui/runs/{evaluation['id']}")
    for link in ("metrics", "queue"):
        assert f"/ui/runs/{evaluation['id']}/{link}" in body
    assert f"/ui/panel-runs/{run['id']}" in body and "three judges" in body

    status, api = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/metrics?source=ai"
    )
    assert status == 200
    body = await text(page, f"/ui/runs/{evaluation['id']}/metrics?source=ai")
    assert "<svg" in body and "ndcg@10 per query" in body
    assert f'data-measure="ndcg@10">{api["measures"]["ndcg@10"]:.4f}<' in body
    assert 'data-query="q1"' in body and 'data-query="q2"' in body
    body = await text(page, f"/ui/runs/{evaluation['id']}/metrics?measures=bogus", status=422)
    assert "unknown measure 'bogus'" in body and 'id="metrics-form"' in body
    # Measures chosen by checkbox and typed: those, and only those, in that order.
    body = await text(
        page, f"/ui/runs/{evaluation['id']}/metrics?measure=ap&measure=rr&measures=ndcg@3"
    )
    shown = [m for m in ("ap", "rr", "ndcg@3", "ndcg@10", "p@10") if f'data-measure="{m}"' in body]
    assert shown == ["ap", "rr", "ndcg@3"], shown
    assert '<input type="checkbox" name="measure" value="ap" checked>' in body
    assert 'value="ndcg@3"' in body

    body = await text(page, f"/ui/compare?runs={evaluation['id']},{other['id']}&source=ai")
    assert "Comparison of 2 runs" in body and ">baseline</span>" in body
    assert evaluation["name"] in body and other["name"] in body
    assert "Kendall" in body

    body = await text(page, f"/ui/panel-runs/{run['id']}")
    assert "Judge panel three judges" in body and "Fleiss' κ" in body
    for i in range(3):
        assert f"member {i}" in body
    assert body.count('class="disagreement"') == 2
    body = await text(page, f"/ui/panel-runs/{run['id']}?disagreement=true")
    assert body.count('<tr class="disagreement">') == 2 and "d1-1" not in body

    body = await text(page, f"/ui/runs/{evaluation['id']}/queue")
    assert "Review queue" in body and "<kbd>0</kbd>–<kbd>3</kbd>" in body
    assert body.count('class="queue-item"') == 6
    first = body.index('class="queue-item"')
    assert body.index("d2-1", first) < body.index("d1-1", first)  # disagreement first
    assert "panel disagreement" in body
    await text(page, "/ui/panel-runs/00000000-0000-0000-0000-000000000000", status=404)
