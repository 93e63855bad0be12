"""Bad input of every kind gets the contract's JSON error, never a 500.

Where a rule holds for every route, the test walks the route table (``ROUTES``), so a
route added later is held to it too.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from releval_judge.access import TokenCreate
from releval_judge.api.routes import ROUTES, RouteSpec
from releval_judge.models import (
    AiJudgeCreate,
    AiJudgePatch,
    EstimateRequest,
    EvaluationRunCreate,
    EvaluationRunPatch,
    HumanJudgmentPut,
    JudgeTestRequest,
    JudgingRunCreate,
)
from releval_judge.models.audits import AuditCreate
from releval_judge.panels.models import JudgePanelCreate, PanelRunCreate
from releval_judge.params import PageParams
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    evaluation_body,
    wait_until_ended,
)
from tests.support.service import Service, ServiceFactory

JSON_BODY_ROUTES = [spec for spec in ROUTES if spec.body is not None]
ID_ROUTES = [spec for spec in ROUTES if "{" in spec.path]
# Paged lists (limit, cursor); other query models are checked in their own tests.
LIST_ROUTES = [
    spec for spec in ROUTES if spec.query is not None and issubclass(spec.query, PageParams)
]

# A body each JSON route accepts, so that only the thing under test is wrong.
VALID_BODIES: dict[type[Any], dict[str, Any]] = {
    EvaluationRunCreate: evaluation_body(),
    EvaluationRunPatch: {"locked": False},
    AiJudgeCreate: {"name": "j", "provider": "openai", "model": "m"},
    AiJudgePatch: {"model": "m2"},
    JudgingRunCreate: {"ai_judge_id": str(uuid.uuid4())},
    JudgeTestRequest: {"query": "q", "candidates": [{"text": "t"}]},
    HumanJudgmentPut: {"grade": 1},
    EstimateRequest: {"ai_judge_id": str(uuid.uuid4())},
    JudgePanelCreate: {"name": "p", "ai_judge_ids": [str(uuid.uuid4()), str(uuid.uuid4())]},
    PanelRunCreate: {"panel_id": str(uuid.uuid4())},
    TokenCreate: {"name": "t", "scopes": ["read"]},
    AuditCreate: {"sample_size": 10},
}


def _walk(routes: list[RouteSpec]) -> list[RouteSpec]:
    """The routes a test walks: never none, or the test would pass without a request."""
    assert routes, "the filter matched no route"
    return routes


def _path(spec: RouteSpec, ids: dict[str, str] | None = None) -> str:
    """The route's path below /api/v1, with unknown ids unless given."""
    path = spec.path.removeprefix("/api/v1")
    for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
        path = path.replace("{" + name + "}", (ids or {}).get(name, str(uuid.uuid4())))
    return path


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def _send(service: Service, method: str, path: str, data: Any) -> tuple[int, Any]:
    return await service.request(
        method, path, data=data, headers={"Content-Type": "application/json"}
    )


async def _ids_with_an_ended_judging_run(service: Service) -> dict[str, str]:
    """Path ids for every list route: an evaluation run and a judging run on it (whose
    provider does not exist, so it ends at once)."""
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    judge = await create_judge(service, "http://127.0.0.1:9/v1", max_retries=0)
    status, run = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run
    await wait_until_ended(service, run["id"])
    return {"run_id": evaluation["id"], "judging_run_id": run["id"]}


def test_each_walk_meets_the_routes_it_is_for() -> None:
    """The filters above keep what they are meant to (seen on a route of each kind)."""

    def walked(routes: list[RouteSpec]) -> set[tuple[str, str]]:
        return {(spec.method, spec.path) for spec in routes}

    assert ("POST", "/api/v1/evaluations/runs") in walked(JSON_BODY_ROUTES)
    assert ("GET", "/api/v1/evaluations/runs/{run_id}") in walked(ID_ROUTES)
    assert ("GET", "/api/v1/evaluations/runs") in walked(LIST_ROUTES)


def test_every_json_body_route_has_a_valid_body_here() -> None:
    assert {spec.body for spec in _walk(JSON_BODY_ROUTES)} <= set(VALID_BODIES)


async def test_malformed_json_is_400_invalid_json_on_every_route(service: Service) -> None:
    evaluation = await create_evaluation(service)
    ids = {"run_id": evaluation["id"]}
    for spec in _walk(JSON_BODY_ROUTES):
        for raw in [b'{"name": ', b"{'name': 'x'}", b"not json", b'{"a": 1,}', b"\xff\xfe"]:
            status, body = await _send(service, spec.method, _path(spec, ids), raw)
            error = assert_error(status, body, 400, "invalid_json")
            assert "JSON" in error["message"]
        for empty in [b"", b"  \n"]:
            status, body = await _send(service, spec.method, _path(spec, ids), empty)
            assert_error(status, body, 400, "invalid_json")


async def test_wrong_shapes_are_422_with_pydantics_error_list(service: Service) -> None:
    for spec in _walk(JSON_BODY_ROUTES):
        assert spec.body is not None
        valid = VALID_BODIES[spec.body]
        cases: list[tuple[Any, str]] = [
            ([], "model_type"),
            ("text", "model_type"),
            (None, "model_type"),
            ({**valid, "no_such_field": 1}, "extra_forbidden"),
        ]
        for payload, error_type in cases:
            status, body = await _send(service, spec.method, _path(spec), json.dumps(payload))
            error = assert_error(status, body, 422, "validation_error")
            details = error["details"]
            assert isinstance(details, list) and details, error
            assert {"type", "loc", "msg"} <= set(details[0])
            assert details[0]["loc"][0] == "body"
            assert error_type in {d["type"] for d in details}, details


async def test_values_postgresql_cannot_store_are_422_not_500(service: Service) -> None:
    """NUL in text, NaN or Infinity in numbers: refused on input, naming the field."""
    evaluation = await create_evaluation(service)
    nul_name = evaluation_body()
    nul_name["name"] = "run\u0000"
    nul_label = evaluation_body(scale={"min": 0, "max": 3, "labels": {"1": "ok\u0000"}})
    nul_field = evaluation_body()
    nul_field["queries"][0]["candidates"][0]["fields"] = {"brand": ["a\u0000"]}
    nul_key = evaluation_body()
    nul_key["queries"][0]["candidates"][0]["fields"] = {"bra\u0000nd": 1}
    raw_infinity = (
        b'{"name": "x", "scale": {"min": 0, "max": 3}, "queries": [{"text": "q", '
        b'"candidates": [{"doc_id": "d", "rank": 1, "fields": {"price": 1e400}}]}]}'
    )
    raw_nan = raw_infinity.replace(b"1e400", b"NaN")
    raw_rank = (
        b'{"name": "x", "scale": {"min": 0, "max": 3}, "queries": [{"text": "q", '
        b'"candidates": [{"doc_id": "d", "rank": 1e400}]}]}'
    )
    judge = {"name": "j", "provider": "openai", "model": "m"}
    cases: list[tuple[str, str, bytes]] = [
        ("POST", "/evaluations/runs", json.dumps(nul_name).encode()),
        ("POST", "/evaluations/runs", json.dumps(nul_label).encode()),
        ("POST", "/evaluations/runs", json.dumps(nul_field).encode()),
        ("POST", "/evaluations/runs", json.dumps(nul_key).encode()),
        ("POST", "/evaluations/runs", raw_infinity),
        ("POST", "/evaluations/runs", raw_nan),
        ("POST", "/evaluations/runs", raw_rank),
        ("POST", "/ai-judges", json.dumps({**judge, "name": "j\u0000"}).encode()),
        (
            "POST",
            "/ai-judges",
            json.dumps({**judge, "prompt_template": "{{ query }}\u0000"}).encode(),
        ),
        ("POST", "/ai-judges", json.dumps({**judge, "tokens_per_minute": 10**10}).encode()),
        ("POST", "/ai-judges", json.dumps(judge).encode()[:-1] + b', "temperature": NaN}'),
        (
            "POST",
            f"/evaluations/runs/{evaluation['id']}/candidates",
            b'{"query_id": "q9", "query": "q\\u0000", "doc_id": "d", "rank": 1}\n',
        ),
        (
            "POST",
            f"/evaluations/runs/{evaluation['id']}/candidates",
            b'{"query_id": "q9", "query": "q", "doc_id": "d", "rank": 1, "fields": {"x": NaN}}\n',
        ),
    ]
    for method, path, raw in cases:
        status, body = await _send(service, method, path, raw)
        assert_error(status, body, 422, "validation_error")

    status, after = await service.request("GET", f"/evaluations/runs/{evaluation['id']}")
    assert status == 200
    assert after["candidate_count"] == evaluation["candidate_count"]


async def test_unknown_or_malformed_ids_are_404_on_every_route(service: Service) -> None:
    for spec in _walk(ID_ROUTES):
        body: Any = VALID_BODIES[spec.body] if spec.body is not None else None
        for bad_id in [str(uuid.uuid4()), "not-a-uuid", "1", "%00"]:
            names = [p[1:-1] for p in spec.path.split("/") if p.startswith("{")]
            path = _path(spec, dict.fromkeys(names, bad_id))
            status, answer = await service.request(spec.method, path, json=body)
            error = assert_error(status, answer, 404, "not_found")
            assert "not found" in error["message"], (spec.path, error)


async def test_unknown_routes_and_methods_get_json_errors(service: Service) -> None:
    status, body = await service.request("GET", "/no-such-thing")
    error = assert_error(status, body, 404, "not_found")
    assert "/api/v1/no-such-thing" in error["message"]

    async with service.client.get(service.base_url + "/nowhere") as resp:
        assert_error(resp.status, await resp.json(), 404, "not_found")

    status, body = await service.request("DELETE", "/evaluations/runs")
    assert_error(status, body, 405, "method_not_allowed")


async def _chunks(data: bytes, size: int = 512) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_bodies_over_max_body_bytes_are_413_on_every_route(
    services: ServiceFactory,
) -> None:
    service = await services.start(max_body_bytes=2048)
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    ids = {"run_id": evaluation["id"]}
    for spec in _walk(JSON_BODY_ROUTES):
        assert spec.body is not None
        big = {**VALID_BODIES[spec.body], "name": "x" * 4096}
        raw = json.dumps(big).encode()
        # With a Content-Length header, and streamed in chunks without one.
        for data in [raw, _chunks(raw)]:
            status, body = await _send(service, spec.method, _path(spec, ids), data)
            error = assert_error(status, body, 413, "payload_too_large")
            assert "2048" in error["message"]

    # Just under the limit is read normally.
    status, body = await service.request(
        "POST", "/ai-judges", json={"name": "j" * 100, "provider": "openai", "model": "m"}
    )
    assert status == 201, body


async def test_forged_cursors_are_422_on_every_list_route(service: Service) -> None:
    ids = await _ids_with_an_ended_judging_run(service)
    forged = [
        "!!!",
        "e30",  # {}
        _cursor([]),
        _cursor([1, 2, 3, 4, 5, 6, 7, 8]),
        _cursor([10**30]),
        _cursor([True]),
        _cursor(["9999-12-31T23:59:59-23:59", str(uuid.uuid4())]),
        _cursor(["0001-01-01T00:00:00+23:59", str(uuid.uuid4())]),
        _cursor(["2020-01-01T00:00:00", str(uuid.uuid4())]),
        _cursor(["2020-01-01T00:00:00+00:00", "not-a-uuid"]),
        _cursor([None, None]),
        _cursor([10**30, "a\u0000", "2020-01-01T00:00:00+00:00", str(uuid.uuid4())]),
    ]
    for spec in _walk(LIST_ROUTES):
        for cursor in forged:
            status, body = await service.request("GET", _path(spec, ids), params={"cursor": cursor})
            error = assert_error(status, body, 422, "validation_error")
            assert "cursor" in error["message"], (spec.path, cursor, error)


async def test_bad_query_parameters_are_422_on_every_list_route(service: Service) -> None:
    ids = await _ids_with_an_ended_judging_run(service)
    for spec in _walk(LIST_ROUTES):
        assert spec.query is not None and issubclass(spec.query, PageParams), spec.path
        for params in [
            {"limit": "0"},
            {"limit": "1001"},
            {"limit": "ten"},
            {"limit": "1.5"},
            {"cursor": ""},
            {"colour": "blue"},
        ]:
            status, body = await service.request("GET", _path(spec, ids), params=params)
            error = assert_error(status, body, 422, "validation_error")
            assert error["details"][0]["loc"][0] == "query", error


async def test_judgment_filters_out_of_range_are_422(service: Service) -> None:
    evaluation = await create_evaluation(service)
    path = f"/evaluations/runs/{evaluation['id']}/judgments"
    for name in ["grade", "min_grade", "max_grade", "max_rank"]:
        for value in [str(2**31), str(10**20)]:
            status, body = await service.request("GET", path, params={name: value})
            assert_error(status, body, 422, "validation_error")
    status, body = await service.request("GET", path, params={"query_id": "q\u0000"})
    assert_error(status, body, 422, "validation_error")
