"""The API calls most tests make: an evaluation run of numbered queries and candidates, a
judge on a provider, a judging run started and waited for, and the contract's error shape.
Each takes any client of the API: the service in-process or a service process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from tests.support.waiting import wait_for


class ApiClient(Protocol):
    """The service's API below /api/v1 with a token: ``Service`` or ``ServiceProcess``."""

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]: ...


def evaluation_body(
    *,
    queries: int = 2,
    per_query: int = 3,
    status: str = "completed",
    scale: dict[str, Any] | None = None,
    texts: Callable[[int, int], str] | None = None,
) -> dict[str, Any]:
    return {
        "name": f"run-{uuid.uuid4().hex[:8]}",
        "status": status,
        "scale": scale or {"min": 0, "max": 3, "labels": {"0": "irrelevant", "3": "perfect"}},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query number {q}",
                "candidates": [
                    {
                        "doc_id": f"d{q}-{r}",
                        "rank": r,
                        "title": f"title {q}-{r}",
                        "text": texts(q, r) if texts else f"document text {q}-{r}",
                    }
                    for r in range(1, per_query + 1)
                ],
            }
            for q in range(1, queries + 1)
        ],
    }


async def create_evaluation(service: ApiClient, **kwargs: Any) -> dict[str, Any]:
    status, body = await service.request(
        "POST", "/evaluations/runs", json=evaluation_body(**kwargs)
    )
    assert status == 201, body
    result: dict[str, Any] = body
    return result


async def create_judge(service: ApiClient, base_url: str, **fields: Any) -> dict[str, Any]:
    payload = {
        "name": "test judge",
        "provider": "openai",
        "model": "test-model",
        "base_url": base_url,
        "api_key": "sk-test-key",
        "batch_size": 3,
        "concurrency": 2,
        "max_retries": 2,
    }
    payload.update(fields)
    status, body = await service.request("POST", "/ai-judges", json=payload)
    assert status == 201, body
    result: dict[str, Any] = body
    return result


async def start_run(
    service: ApiClient, evaluation_id: str, judge_id: str, **body: Any
) -> dict[str, Any]:
    """POST …/ai-judge (``body``: the start body's other fields) and return the queued run
    (201 asserted)."""
    status, run = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation_id}/ai-judge",
        json={"ai_judge_id": judge_id, **body},
    )
    assert status == 201, run
    result: dict[str, Any] = run
    return result


async def wait_until_ended(
    service: ApiClient, judging_run_id: str, *, timeout: float = 30.0
) -> dict[str, Any]:
    """The judging run once it has ended (its status neither queued nor running)."""
    result: dict[str, Any] = {}

    async def ended() -> bool:
        status, body = await service.request("GET", f"/ai-judging-runs/{judging_run_id}")
        assert status == 200, body
        result.update(body)
        return body["status"] not in ("queued", "running")

    await wait_for(ended, timeout=timeout)
    return result


def assert_error(status: int, body: Any, expected_status: int, code: str) -> dict[str, Any]:
    """The contract's error shape, ``{"error": {"code", "message", "details"}}``; returns it."""
    assert status == expected_status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error
