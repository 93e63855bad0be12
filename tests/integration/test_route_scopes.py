"""Scopes on every route: ``read`` reads, ``write`` also changes, ``admin`` also manages
tokens; a missing scope is 403 ``forbidden`` naming it, before anything else is looked at
(docs/security.md, "Scopes and tokens"). The walks go over the route table, so a route
added later is held to its scope too."""

from __future__ import annotations

import uuid
from typing import Any

from releval_judge.api.routes import ROUTES, RouteSpec
from tests.support.api import assert_error, create_evaluation, create_judge
from tests.support.service import TOKEN, Service
from tests.support.tokens import bearer, create_token

PROTECTED = [spec for spec in ROUTES if spec.auth]
# The routes that are not "GET needs read, anything else write" (docs/security.md).
EXCEPTIONS = {
    ("POST", "/api/v1/evaluations/runs/{run_id}/ai-judge/estimate"): "read",
    ("POST", "/api/v1/tokens"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "admin",
}


def _path(spec: RouteSpec) -> str:
    """Below /api/v1, every path parameter an id that does not exist."""
    path = spec.path.removeprefix("/api/v1")
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return path


async def _walk(service: Service, token: str) -> dict[RouteSpec, tuple[int, Any]]:
    """Every protected route with unknown ids and a body that is not even JSON: whatever
    a route answers first."""
    answers: dict[RouteSpec, tuple[int, Any]] = {}
    for spec in PROTECTED:
        answers[spec] = await service.request(
            spec.method,
            _path(spec),
            data=b"not json",
            headers={**bearer(token), "Content-Type": "application/json"},
        )
    return answers


def test_each_route_needs_the_scope_docs_security_md_gives_it() -> None:
    for spec in PROTECTED:
        default = "read" if spec.method == "GET" else "write"
        expected = EXCEPTIONS.get((spec.method, spec.path), default)
        assert spec.required_scope == expected, (spec.method, spec.path)
    for spec in ROUTES:
        if not spec.auth:
            assert spec.required_scope is None, spec.path


async def test_a_read_token_is_refused_every_change_before_anything_else(
    service: Service,
) -> None:
    token = (await create_token(service, ["read"], name="reader"))["token"]
    answers = await _walk(service, token)
    refused = []
    for spec, (status, body) in answers.items():
        route = f"{spec.method} {spec.path}"
        if spec.required_scope == "read":
            assert status != 403, (route, body)
            continue
        refused.append(route)
        # Not the 404 of the unknown id nor the 400 of the body: the scope comes first.
        error = assert_error(status, body, 403, "forbidden")
        assert error["message"] == (
            f"this token's scopes are read; {route} needs {spec.required_scope}"
        )
        assert error["details"] == {
            "required_scope": spec.required_scope,
            "token_scopes": ["read"],
        }
    assert "POST /api/v1/ai-judges" in refused and "GET /api/v1/tokens" in refused


async def test_a_write_token_is_refused_only_the_token_api(service: Service) -> None:
    token = (await create_token(service, ["write"], name="writer"))["token"]
    answers = await _walk(service, token)
    forbidden = {f"{s.method} {s.path}" for s, (status, _) in answers.items() if status == 403}
    assert forbidden == {
        "POST /api/v1/tokens",
        "GET /api/v1/tokens",
        "DELETE /api/v1/tokens/{token_id}",
    }


async def test_static_tokens_may_do_everything(service: Service) -> None:
    answers = await _walk(service, TOKEN)
    assert not [s.path for s, (status, _) in answers.items() if status == 403]
    admin = (await create_token(service, ["admin"], name="admin"))["token"]
    answers = await _walk(service, admin)
    assert not [s.path for s, (status, _) in answers.items() if status == 403]


async def test_a_read_token_reads_and_estimates_but_changes_nothing(service: Service) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    read = bearer((await create_token(service, ["read"], name="reader"))["token"])
    run_id = evaluation["id"]
    for path in [
        "/evaluations/runs",
        f"/evaluations/runs/{run_id}",
        f"/evaluations/runs/{run_id}/judgments",
        f"/evaluations/runs/{run_id}/metrics",
        "/ai-judges",
        f"/ai-judges/{judge['id']}",
    ]:
        status, body = await service.request("GET", path, headers=read)
        assert status == 200, (path, body)
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{run_id}/ai-judge/estimate",
        json={"ai_judge_id": judge["id"]},
        headers=read,
    )
    assert status == 200 and body["candidates"] == 2, body

    changes: list[tuple[str, str, Any]] = [
        ("POST", f"/evaluations/runs/{run_id}/ai-judge", {"ai_judge_id": judge["id"]}),
        ("PATCH", f"/evaluations/runs/{run_id}", {"locked": True}),
        ("PATCH", f"/ai-judges/{judge['id']}", {"name": "renamed"}),
        ("DELETE", f"/ai-judges/{judge['id']}", None),
        ("POST", f"/ai-judges/{judge['id']}/test", {"query": "q", "candidates": [{"text": "t"}]}),
    ]
    for method, path, payload in changes:
        status, body = await service.request(method, path, json=payload, headers=read)
        assert_error(status, body, 403, "forbidden")
    status, after = await service.request("GET", f"/evaluations/runs/{run_id}")
    assert after["locked"] is False
    status, runs = await service.request("GET", f"/evaluations/runs/{run_id}/ai-judging-runs")
    assert runs["items"] == []
    status, same = await service.request("GET", f"/ai-judges/{judge['id']}")
    assert status == 200 and same["name"] == judge["name"]


async def test_the_openapi_document_names_each_routes_scope(service: Service) -> None:
    async with service.client.get(service.base_url + "/openapi.json") as resp:
        document = await resp.json()
    for spec in ROUTES:
        operation = document["paths"][spec.path][spec.method.lower()]
        if spec.auth:
            assert operation["x-required-scope"] == spec.required_scope, spec.path
            assert f"`{spec.required_scope}` scope" in operation["description"]
            assert "forbidden" in operation["responses"]["403"]["description"]
        else:
            assert "x-required-scope" not in operation and "403" not in operation["responses"]
