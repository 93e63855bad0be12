"""Judge panels as the panel tests set them up: documents whose text carries the grade each
of three members gives them, providers that grade by it, a panel of those members."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from tests.support.api import create_judge
from tests.support.fakes import FakeProvider, blocks, completion
from tests.support.service import Service
from tests.support.waiting import wait_for

# Per candidate (query, rank): the grades of members 0, 1 and 2, and the majority.
GRADES: dict[tuple[int, int], tuple[int, int, int]] = {
    (1, 1): (2, 2, 2),
    (1, 2): (0, 2, 3),  # three-way tie: the lowest; spans 3 grades: disagreement
    (1, 3): (1, 1, 2),
    (2, 1): (3, 3, 0),  # spans 3 grades: disagreement
    (2, 2): (1, 2, 2),
    (2, 3): (0, 0, 0),
}
MAJORITY = {(1, 1): 2, (1, 2): 0, (1, 3): 1, (2, 1): 3, (2, 2): 2, (2, 3): 0}
DISAGREE = {(1, 2), (2, 1)}
MARK = re.compile(r'<document id="(\d+)">.*?grades (\d)(\d)(\d)', re.DOTALL)


def marked_text(q: int, r: int) -> str:
    """A document text that carries the grade of each of the three members."""
    return "document {}-{} grades {}".format(q, r, "".join(map(str, GRADES[(q, r)])))


def member(position: int, gate: asyncio.Event | None = None) -> FakeProvider:
    """A provider that grades each document by digit ``position`` of its marker."""

    async def respond(prompt: str, call_no: int) -> web.Response:
        if gate is not None:
            await gate.wait()
        grades = {m.group(1): int(m.group(2 + position)) for m in MARK.finditer(prompt)}
        return completion(blocks(grades))

    return FakeProvider(respond=respond)


async def make_panel(
    service: Service, providers: list[FakeProvider], aggregation: str = "majority"
) -> dict[str, Any]:
    judges = [
        await create_judge(service, p.base_url, name=f"member {i}", batch_size=3)
        for i, p in enumerate(providers)
    ]
    status, panel = await service.request(
        "POST",
        "/judge-panels",
        json={
            "name": "three judges",
            "aggregation": aggregation,
            "ai_judge_ids": [j["id"] for j in judges],
        },
    )
    assert status == 201, panel
    return dict(panel)


async def start_panel(service: Service, evaluation_id: str, panel_id: str) -> dict[str, Any]:
    status, run = await service.request(
        "POST", f"/evaluations/runs/{evaluation_id}/judge-panel", json={"panel_id": panel_id}
    )
    assert status == 201, run
    return dict(run)


async def wait_panel_ended(service: Service, panel_run_id: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def ended() -> bool:
        status, body = await service.request("GET", f"/panel-runs/{panel_run_id}")
        assert status == 200, body
        result.update(body)
        return bool(body["status"] != "running")

    await wait_for(ended)
    return result
