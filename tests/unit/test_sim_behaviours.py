"""The simulator's untrustworthy judges: one that favours the first document of each prompt
and one whose grades waver from call to call, next to a steady judge (real HTTP server)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from releval_judge.sim import SimConfig, build_app
from releval_judge.sim.batches import BatchRequest
from releval_judge.sim.behaviour import misjudge
from releval_judge.sim.grader import judge, parse_prompt
from releval_judge.sim.server import SIMULATOR_KEY
from tests.support.sim import BLOCK, Client, grades, render, sim_client

QUERY = "climate policy in Europe"
# Their steady lexical grades on 0–3, whatever their order in the prompt: none at the top
# of the scale but "europe", so that a favoured first document shows.
DOCS = {
    "science": ("Climate science", "Climate models predict warming this century."),
    "banana": ("Banana bread", "Mash three bananas, add flour and bake for an hour."),
    "europe": ("Climate in Europe", "Policy debates in Europe about the climate."),
    "notes": ("Policy notes", "Notes on policy."),
}
STEADY = {"science": 1, "banana": 0, "europe": 3, "notes": 1}
ORDER = ["science", "banana", "europe", "notes"]


async def graded(client: Client, order: Sequence[str], model: str = "gpt-sim") -> dict[str, int]:
    """Send one prompt with the documents in ``order``; their grades by name."""
    prompt = render(QUERY, [DOCS[name] for name in order])
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    async with client.post("/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
    by_id = grades(answer["choices"][0]["message"]["content"])
    return {name: by_id[str(i)] for i, name in enumerate(order, start=1)}


async def answer_text(client: Client, order: Sequence[str]) -> str:
    prompt = render(QUERY, [DOCS[name] for name in order])
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": prompt}]}
    async with client.post("/v1/chat/completions", json=body) as response:
        text: str = (await response.json())["choices"][0]["message"]["content"]
        return text


async def test_a_steady_judge_gives_a_document_the_same_grade_in_any_place_and_call() -> None:
    client = await sim_client(SimConfig(latency_ms=0, seed=1))
    try:
        calls = [await graded(client, ORDER) for _ in range(10)]
        calls += [await graded(client, ORDER[::-1]) for _ in range(10)]
    finally:
        await client.close()

    assert all(call == STEADY for call in calls)


async def test_a_biased_judge_grades_whichever_document_comes_first_higher() -> None:
    client = await sim_client(SimConfig(latency_ms=0, position_bias=1))
    try:
        forward = await graded(client, ORDER)
        backward = await graded(client, ORDER[::-1])
        text = await answer_text(client, ORDER)
    finally:
        await client.close()

    # "science" first, then last: one grade more when first; the rest as the steady judge.
    assert forward == {**STEADY, "science": 2}
    assert backward == {**STEADY, "notes": 2}
    first_block = BLOCK.search(text)
    assert first_block is not None
    assert first_block.group(3).endswith("Then first in the batch, favoured: grade 2.")


async def test_the_favour_is_configurable_and_stops_at_the_top_of_the_scale() -> None:
    client = await sim_client(SimConfig(latency_ms=0, position_bias=2))
    try:
        science_first = await graded(client, ORDER)
        europe_first = await graded(client, ["europe", "banana", "science", "notes"])
    finally:
        await client.close()

    assert science_first == {**STEADY, "science": 3}
    assert europe_first == STEADY  # already 3 of 3


async def test_a_wavering_judge_grades_the_same_prompt_differently_call_to_call() -> None:
    client = await sim_client(SimConfig(latency_ms=0, waver_rate=0.3, seed=7))
    try:
        calls = [await graded(client, ORDER) for _ in range(40)]
    finally:
        await client.close()

    changed = [(name, call[name]) for call in calls for name in ORDER if call[name] != STEADY[name]]
    # 160 grades at a rate of 0.3: about 48 changed (seeded, so always the same count).
    assert 30 <= len(changed) <= 66
    assert len({tuple(sorted(call.items())) for call in calls}) > 10
    for name, grade in changed:
        assert abs(grade - STEADY[name]) == 1 and 0 <= grade <= 3
    # "banana" sits at the bottom of the scale: it can only waver up.
    assert {grade for name, grade in changed if name == "banana"} == {1}
    assert {grade for name, grade in changed if name == "europe"} == {2}


async def test_wavering_is_the_same_for_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        client = await sim_client(SimConfig(latency_ms=0, waver_rate=0.5, seed=11))
        try:
            runs.append([await graded(client, ORDER) for _ in range(10)])
        finally:
            await client.close()

    assert runs[0] == runs[1]
    assert any(call != STEADY for call in runs[0])


async def test_behaviour_models_picks_the_judges_that_misbehave() -> None:
    config = SimConfig(latency_ms=0, position_bias=1, behaviour_models=frozenset({"biased"}))
    client = await sim_client(config)
    try:
        biased = await graded(client, ORDER, model="biased")
        steady = await graded(client, ORDER, model="gpt-sim")
    finally:
        await client.close()

    assert biased == {**STEADY, "science": 2}
    assert steady == STEADY


def test_batch_requests_are_graded_with_the_same_bias() -> None:
    simulator = build_app(SimConfig(position_bias=1))[SIMULATOR_KEY]
    prompt = render(QUERY, [DOCS[name] for name in ORDER])
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": prompt}]}

    result = simulator.run_batch_request(
        "openai", 0, BatchRequest("q1-b1", json.dumps(body).encode())
    )

    assert result.succeeded
    by_id = grades(result.body["choices"][0]["message"]["content"])
    assert by_id == {"1": 2, "2": 0, "3": 3, "4": 1}


def test_every_grade_wavers_at_rate_one_and_stays_on_the_scale() -> None:
    prompt = parse_prompt(render(QUERY, [DOCS[name] for name in ORDER]))
    wavered = misjudge(judge(prompt), prompt, SimConfig(waver_rate=1.0), random.Random(3))

    assert [j.grade for j in wavered][1:3] == [1, 2]  # banana only up, europe only down
    assert all(abs(j.grade - STEADY[n]) == 1 for j, n in zip(wavered, ORDER, strict=True))
    assert all(j.reasoning.endswith(f"Then wavered: grade {j.grade}.") for j in wavered)


@pytest.mark.parametrize(
    "fields",
    [{"position_bias": -1}, {"waver_rate": 1.5}, {"waver_rate": -0.1}],
)
def test_out_of_range_behaviours_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SimConfig.model_validate(fields)


def test_the_behaviours_come_through_the_cli_json_config() -> None:
    config = SimConfig.model_validate_json(
        '{"position_bias": 1, "waver_rate": 0.2, "behaviour_models": ["j1", "j2"]}'
    )

    assert (config.position_bias, config.waver_rate) == (1, 0.2)
    assert config.behaviour_models == frozenset({"j1", "j2"})
