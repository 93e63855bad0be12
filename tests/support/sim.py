"""The provider simulator as its tests drive it: prompts laid out like the service's, the
grades read back from an answer, and the simulator's app behind a test client, on a clock
that moves only when a test says so."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape

from releval_judge.sim import SimConfig, build_app

Client = TestClient[Any, Any]

BLOCK = re.compile(
    r'<candidate id="([^"]+)">\n<grade>(-?\d+)</grade>\n<reasoning>([^<]*)</reasoning>\n'
    r"</candidate>"
)
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def render(query: str, docs: list[tuple[str, str]], scale: tuple[int, int] | None = (0, 3)) -> str:
    """A prompt laid out like the service's default template, autoescaped like Jinja2."""
    lines = ["You are a search relevance judge.", f"Query: {escape(query)}"]
    if scale is not None:
        lines.append(f"Grades: integers from {scale[0]} to {scale[1]}")
    for i, (title, text) in enumerate(docs, start=1):
        lines += [f'<document id="{i}">', f"<title>{escape(title)}</title>", escape(text)]
        lines.append("</document>")
    lines.append('Answer with one <candidate id="N"> block per document.')
    return "\n".join(lines)


CLIMATE_PROMPT = render(
    "climate policy in Europe",
    [
        ("European climate policy", "The EU climate policy sets emission targets for Europe."),
        ("Banana bread", "Mash three bananas, add flour and bake for an hour."),
        ("Climate science", "Climate models predict warming this century."),
    ],
)


def grades(answer: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in BLOCK.finditer(answer)}


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


async def sim_client(config: SimConfig, clock: Clock | None = None) -> Client:
    """The simulator's app served to a test client; on ``clock`` if given, else real time."""
    app = build_app(config) if clock is None else build_app(config, clock=clock)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return client
