"""``releval-judge sim --config`` as a real process: the 2026 SimConfig fields arrive
through the JSON config, and both batch APIs run to the end on the real clock."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.service import REPO, free_port
from tests.support.sim import ANTHROPIC_HEADERS, CLIMATE_PROMPT

CONFIG = {
    "latency_ms": 0,
    "api_key": "sk-cli",
    "batch_completion_s": 1.0,
    "batch_cancel_s": 0.05,
    "batch_request_error_every": 2,
    "reasoning_model_prefixes": ["thinker"],
}


@pytest.fixture
async def sim_base() -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "releval_judge",
        "sim",
        "--port",
        str(port),
        "--config",
        json.dumps(CONFIG),
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as client, asyncio.timeout(30):
            while True:
                assert process.returncode is None, "the simulator exited"
                try:
                    async with client.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        yield base
    finally:
        process.terminate()
        await process.wait()


async def poll(client: aiohttp.ClientSession, url: str, field: str, ended: set[str]) -> Any:
    async with asyncio.timeout(30):
        while True:
            async with client.get(url) as response:
                assert response.status == 200
                batch = await response.json()
            if batch[field] in ended:
                return batch
            await asyncio.sleep(0.05)


def chat_line(custom_id: str) -> str:
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": CLIMATE_PROMPT}]}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return json.dumps(line)


async def test_openai_batch_through_the_cli_config(sim_base: str) -> None:
    headers = {"Authorization": "Bearer sk-cli"}
    async with aiohttp.ClientSession(headers=headers) as client:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        content = "\n".join(chat_line(f"b{i}") for i in range(1, 5)).encode()
        form.add_field("file", content, filename="in.jsonl")
        async with client.post(f"{sim_base}/v1/files", data=form) as response:
            file_id = (await response.json())["id"]
        create = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        async with client.post(f"{sim_base}/v1/batches", json=create) as response:
            batch_id = (await response.json())["id"]
        batch = await poll(
            client, f"{sim_base}/v1/batches/{batch_id}", "status", {"completed", "failed"}
        )
        async with client.get(f"{sim_base}/v1/files/{batch['error_file_id']}/content") as r:
            errored = sorted(json.loads(x)["custom_id"] for x in (await r.text()).splitlines())
        body = {
            "model": "thinker-1",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
        }
        async with client.post(f"{sim_base}/v1/chat/completions", json=body) as response:
            reasoning_rule = response.status
        async with client.get(f"{sim_base}/stats") as response:
            stats = await response.json()

    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
    assert errored == ["b2", "b4"]
    assert reasoning_rule == 400
    assert (stats["batches_created"], stats["batch_requests"], stats["files_uploaded"]) == (
        1,
        4,
        1,
    )


async def test_anthropic_batch_cancel_through_the_cli_config(sim_base: str) -> None:
    headers = {**ANTHROPIC_HEADERS, "x-api-key": "sk-cli"}
    params = {
        "model": "claude-sim",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": CLIMATE_PROMPT}],
    }
    requests = [{"custom_id": f"r{i}", "params": params} for i in range(3)]
    async with aiohttp.ClientSession(headers=headers) as client:
        async with client.post(
            f"{sim_base}/v1/messages/batches", json={"requests": requests}
        ) as response:
            batch_id = (await response.json())["id"]
        url = f"{sim_base}/v1/messages/batches/{batch_id}"
        async with client.post(f"{url}/cancel") as response:
            assert response.status == 200
            canceling = await response.json()
        batch = await poll(client, url, "processing_status", {"ended"})
        async with client.get(batch["results_url"]) as response:
            types = sorted(
                json.loads(x)["result"]["type"] for x in (await response.text()).splitlines()
            )
        async with client.get(f"{sim_base}/stats") as response:
            stats = await response.json()

    # The cancel may arrive after a request or two ran; whatever did not run is canceled.
    assert canceling["processing_status"] == "canceling"
    assert len(types) == 3
    assert set(types) <= {"succeeded", "errored", "canceled"}
    assert batch["request_counts"]["canceled"] == types.count("canceled")
    assert stats["batches_cancelled"] == 1
