"""Every judge body of the README's "Providers" section is accepted as written and grades
candidates against the simulator's route for that provider (OpenAI, Azure OpenAI classic
and v1, Anthropic, a local OpenAI-compatible server)."""

from __future__ import annotations

import json
import re

import pytest

from releval_judge.sim import SimConfig
from tests.support.servers import LocalServers
from tests.support.service import REPO, ServiceFactory

SECTION = re.compile(r"^## Providers\n(.*?)^## ", re.S | re.M)
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)
# The public hosts of the bodies, each served by the simulator at the same paths.
HOSTS = (
    "https://api.openai.com",
    "https://my-resource.openai.azure.com",
    "https://api.anthropic.com",
    "http://127.0.0.1:11434",
)


def judge_bodies() -> list[dict[str, object]]:
    section = SECTION.search((REPO / "README.md").read_text())
    assert section, "README has no 'Providers' section"
    return [json.loads(block) for block in JSON_BLOCK.findall(section.group(1))]


@pytest.fixture
async def sim_root(local_servers: LocalServers) -> str:
    port = await local_servers.sim(SimConfig(latency_ms=0, seed=2))
    return f"http://127.0.0.1:{port}"


def test_the_section_has_a_body_per_provider() -> None:
    bodies = judge_bodies()
    assert len(bodies) == 5
    urls = [str(b["base_url"]) for b in bodies]
    assert [any(u.startswith(h) for u in urls) for h in HOSTS] == [True] * 4


async def test_each_judge_body_works_against_its_providers_routes(
    services: ServiceFactory, sim_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(variable, f"key-of-{variable}")
    service = await services.start()
    for body in judge_bodies():
        url = str(body["base_url"])
        for host in HOSTS:
            url = url.replace(host, sim_root)
        status, judge = await service.request("POST", "/ai-judges", json={**body, "base_url": url})
        assert status == 201, (body["name"], judge)
        status, result = await service.request(
            "POST",
            f"/ai-judges/{judge['id']}/test",
            json={
                "query": "wireless headphones",
                "candidates": [
                    {"title": "Acme headphones", "text": "Over-ear Bluetooth headphones."},
                    {"title": "USB cable", "text": "A one-metre cable."},
                ],
            },
        )
        assert status == 200, (body["name"], result)
        assert (result["judged"], result["failed"]) == (2, 0), (body["name"], result)
