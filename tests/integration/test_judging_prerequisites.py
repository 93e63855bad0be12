"""Starting a judging run: every prerequisite error of the contract."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import create_evaluation, create_judge
from tests.support.service import Service


@pytest.mark.parametrize("status", ["pending", "queued", "running", "failed"])
async def test_run_that_is_not_completed_is_refused_naming_its_status(
    service: Service, status: str
) -> None:
    evaluation = await create_evaluation(service, status=status)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    code, body = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert code == 409
    assert body["error"]["code"] == "evaluation_run_not_completed"
    assert status in body["error"]["message"]
    code, listing = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert code == 200 and listing["items"] == []


async def test_a_pending_runs_409_says_how_to_complete_it_and_following_it_works(
    service: Service,
) -> None:
    evaluation = await create_evaluation(service, status="pending")
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    start = f"/evaluations/runs/{evaluation['id']}/ai-judge"
    code, body = await service.request("POST", start, json={"ai_judge_id": judge["id"]})
    assert code == 409, body
    message = body["error"]["message"]
    route = f'PATCH /api/v1/evaluations/runs/{evaluation["id"]} {{"status": "completed"}}'
    assert message.endswith(f"mark it completed with {route}"), message
    assert body["error"]["details"] == {
        "status": "pending",
        "complete_with": {"status": "completed"},
    }

    # The route as the message names it (below /api/v1) completes the run; the start works.
    method, path, patch = route.split(" ", 2)
    code, patched = await service.request(
        method,
        path.removeprefix("/api/v1"),
        data=patch,
        headers={"Content-Type": "application/json"},
    )
    assert code == 200 and patched["status"] == "completed", patched
    code, run = await service.request("POST", start, json={"ai_judge_id": judge["id"]})
    assert code == 201, run
    code, _ = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert code == 200


async def test_locked_run_is_refused(service: Service) -> None:
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    code, _ = await service.request(
        "PATCH", f"/evaluations/runs/{evaluation['id']}", json={"locked": True}
    )
    assert code == 200
    code, body = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert code == 409
    assert body["error"]["code"] == "evaluation_run_locked"


async def test_unknown_run_or_judge_is_404(service: Service) -> None:
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    for run_id, judge_id in [
        (str(uuid.uuid4()), judge["id"]),
        ("not-a-uuid", judge["id"]),
        (evaluation["id"], str(uuid.uuid4())),
        (evaluation["id"], "nope"),
    ]:
        code, body = await service.request(
            "POST", f"/evaluations/runs/{run_id}/ai-judge", json={"ai_judge_id": judge_id}
        )
        assert code == 404, body
        assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("payload", "code", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"{}", 422, "validation_error"),
        (b'{"ai_judge_id": 5}', 422, "validation_error"),
        (b'{"ai_judge_id": "x", "extra": 1}', 422, "validation_error"),
        (b"[]", 422, "validation_error"),
    ],
)
async def test_bad_start_bodies(service: Service, payload: bytes, code: int, error: str) -> None:
    evaluation = await create_evaluation(service)
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert status == code, body
    assert body["error"]["code"] == error
