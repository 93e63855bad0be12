"""Hostile input from schemathesis against the live service's own ``/openapi.json``.

Every operation of the document gets schema-valid (positive) and schema-breaking
(negative) requests with a valid token. Whatever comes in: no 5xx; the status code is
one the document lists for that operation; the content type, headers and body match
what it declares; and data that breaks the schema is refused with a 4xx.

Random ids only ever meet 404s, so positive cases use resources that exist half of the
time (an evaluation run with AI and human judgments and failures, AI judges, an ended
and a running judging run). Every operation must have answered its success status at
least once, so that its success body was checked as well; where random data cannot get
there (``Existing.known_good``), one well-formed request is sent first.

Bounded and reproducible: ``MAX_EXAMPLES`` per operation and mode, derandomized
Hypothesis, no example database. The fuzzing runs in a worker thread (schemathesis'
client is synchronous) while the service answers in this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport import SerializationContext

from releval_judge.api.routes import ROUTES
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, FakeProviders, blocks, completion, document_ids
from tests.support.service import TOKEN, ServiceFactory

MAX_EXAMPLES = 30
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
LABELS = [f"{spec.method} {spec.path}" for spec in ROUTES]
# Operations that take something schema-breaking data can go into (the probes take none).
NEGATABLE = {
    f"{spec.method} {spec.path}"
    for spec in ROUTES
    if spec.auth or spec.body or spec.ndjson_body or spec.query or "{" in spec.path
}
# What counts as refusing schema-breaking data; a body over RELEVAL_MAX_BODY_BYTES is
# refused with 413.
REJECTED = ["400", "401", "404", "409", "413", "422"]
HUMAN_JUDGE = "alice"
HUMAN_JUDGMENT = "/api/v1/evaluations/runs/{run_id}/candidates/{candidate_id}/judgments/{judge}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A success with the token is sent again without it and with a wrong one: both 401.
    ignored_auth,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]

Operation = APIOperation[Any, Any, Any, Any]


def _ndjson(ctx: SerializationContext, value: Any) -> bytes:
    """``application/x-ndjson``: the document describes the body as the list of its lines."""
    lines = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


schemathesis.serializer("application/x-ndjson")(_ndjson)


@dataclass
class Existing:
    """Resources that exist: ids by path parameter (or body field) name."""

    ids: dict[str, list[str]]
    # An operation that changes or deletes the resource its path ends with gets its own,
    # so that a lock or a deletion does not turn every later request into a 409 or 404.
    disposable_ids: dict[str, list[str]]
    body_ids: dict[str, str]
    # Operations random data rarely gets right: one well-formed request each
    # (``Case`` keyword arguments), sent before the fuzzing.
    known_good: dict[str, dict[str, Any]] = field(default_factory=dict)
    # An event stream lasts until its resource ends (a running judging run's would last
    # as long as the fuzzing): streams get resources that have ended.
    ended_ids: dict[str, list[str]] = field(default_factory=dict)

    def ids_for(self, case: Case[Any]) -> dict[str, list[str]]:
        if case.operation.path.endswith("/events"):
            return {**self.ids, **self.ended_ids}
        modifies_resource = case.method.upper() in ("PATCH", "DELETE")
        last = case.operation.path.rstrip("/").rsplit("/", 1)[-1].strip("{}")
        if modifies_resource and last in self.disposable_ids:
            return {**self.ids, last: self.disposable_ids[last]}
        return self.ids


async def _grade_all_but_the_first(prompt: str, call_no: int) -> web.Response:
    """Grade 2 for every document but the first, whose grade 9 is outside the scale."""
    return completion(blocks({cid: 9 if cid == "1" else 2 for cid in document_ids(prompt)}))


async def _seed(
    services: ServiceFactory,
    quick: FakeProvider,
    held: FakeProvider,
    then_held: tuple[FakeProvider, asyncio.Event],
) -> tuple[str, Existing]:
    service = await services.start()
    evaluation = await create_evaluation(service, queries=2, per_query=3)
    run_id = evaluation["id"]
    disposable = await create_evaluation(service, queries=1, per_query=1)
    judge = await create_judge(service, quick.base_url, name="read judge")
    disposable_judge = await create_judge(service, quick.base_url, name="patched judge")
    startable = await create_judge(service, quick.base_url, name="startable judge")
    ended = await start_run(service, run_id, startable["id"])
    result = await wait_until_ended(service, ended["id"])
    assert result["status"] == "completed" and result["failed"] == 2, result
    # An audit that completed, and one that stays running (its provider answered the run,
    # then holds every call) so that a cancel can succeed.
    status, done_audit = await service.request(
        "POST", f"/ai-judging-runs/{ended['id']}/audits", json={"sample_size": 6}
    )
    assert status == 201, done_audit
    audited_judge = await create_judge(service, then_held[0].base_url, name="audited judge")
    audited = await start_run(service, run_id, audited_judge["id"])
    assert (await wait_until_ended(service, audited["id"]))["status"] == "completed"
    then_held[1].set()
    status, running_audit = await service.request(
        "POST", f"/ai-judging-runs/{audited['id']}/audits", json={"sample_size": 6}
    )
    assert status == 201, running_audit
    # A run whose provider holds every call until the test ends: it stays running, so
    # that a cancel can succeed (200) before the others meet an ended run (409).
    held_judge = await create_judge(service, held.base_url, name="held judge")
    running = await start_run(service, run_id, held_judge["id"])

    # A judge panel with a completed panel run, and one to delete.
    panel_body = {"name": "panel", "ai_judge_ids": [judge["id"], startable["id"]]}
    status, panel = await service.request("POST", "/judge-panels", json=panel_body)
    assert status == 201, panel
    status, disposable_panel = await service.request("POST", "/judge-panels", json=panel_body)
    assert status == 201, disposable_panel
    status, panel_run = await service.request(
        "POST", f"/evaluations/runs/{run_id}/judge-panel", json={"panel_id": panel["id"]}
    )
    assert status == 201, panel_run
    for member in panel_run["members"]:
        await wait_until_ended(service, member["ai_judging_run_id"])
    # A panel run held running by its held member, so that a cancel can succeed.
    status, held_panel = await service.request(
        "POST",
        "/judge-panels",
        json={"name": "held", "ai_judge_ids": [held_judge["id"], judge["id"]]},
    )
    assert status == 201, held_panel
    status, running_panel_run = await service.request(
        "POST", f"/evaluations/runs/{run_id}/judge-panel", json={"panel_id": held_panel["id"]}
    )
    assert status == 201, running_panel_run

    status, page = await service.request("GET", f"/evaluations/runs/{run_id}/judgments")
    assert status == 200, page
    candidate_ids = [item["candidate_id"] for item in page["items"]]
    # A stored token to revoke (revoking again is 204 too, so one does for every case).
    status, token = await service.request(
        "POST", "/tokens", json={"name": "fuzzed", "scopes": ["read"]}
    )
    assert status == 201, token
    human = {"run_id": run_id, "candidate_id": candidate_ids[0], "judge": HUMAN_JUDGE}
    return service.base_url, Existing(
        ids={
            "run_id": [run_id],
            "judge_id": [judge["id"]],
            "judging_run_id": [ended["id"], running["id"]],
            "candidate_id": candidate_ids,
            "judge": [HUMAN_JUDGE],
            "panel_id": [panel["id"]],
            "panel_run_id": [panel_run["id"], running_panel_run["id"]],
            "token_id": [token["id"]],
            "audit_id": [done_audit["id"], running_audit["id"]],
        },
        disposable_ids={
            "run_id": [disposable["id"]],
            "judge_id": [disposable_judge["id"]],
            "panel_id": [disposable_panel["id"]],
        },
        body_ids={
            "ai_judge_id": startable["id"],
            "evaluation_run_id": run_id,
            "panel_id": panel["id"],
        },
        ended_ids={"judging_run_id": [ended["id"]]},
        known_good={
            "POST /api/v1/ai-judges/{judge_id}/test": {
                "path_parameters": {"judge_id": judge["id"]},
                "body": {"evaluation_run_id": run_id, "sample_size": 2},
            },
            f"PUT {HUMAN_JUDGMENT}": {
                "path_parameters": human,
                "body": {"grade": 1, "reasoning": "a human's view"},
            },
            f"DELETE {HUMAN_JUDGMENT}": {"path_parameters": human},
            # Random run ids never name two existing runs.
            "GET /api/v1/evaluations/compare": {"query": {"runs": f"{run_id},{disposable['id']}"}},
            "GET /api/v1/evaluations/runs/{run_id}/estimates": {
                "path_parameters": {"run_id": run_id}
            },
            "POST /api/v1/judge-panels": {"body": panel_body},
            "POST /api/v1/tokens": {"body": {"name": "fuzz", "scopes": ["read"]}},
            "POST /api/v1/ai-judging-runs/{judging_run_id}/audits": {
                "path_parameters": {"judging_run_id": ended["id"]},
                "body": {"sample_size": 2},
            },
            "POST /api/v1/audits/{audit_id}/cancel": {
                "path_parameters": {"audit_id": running_audit["id"]}
            },
            "POST /api/v1/panel-runs/{panel_run_id}/cancel": {
                "path_parameters": {"panel_run_id": running_panel_run["id"]}
            },
            "POST /api/v1/evaluations/runs/{run_id}/judge-panel": {
                "path_parameters": {"run_id": run_id},
                "body": {"panel_id": panel["id"]},
            },
        },
    )


def _use_existing_ids(case: Case[Any], draw: Callable[[Any], Any], existing: Existing) -> None:
    """Replace generated ids by existing ones half of the time (positive cases only)."""
    ids = existing.ids_for(case)
    for name in list(case.path_parameters or {}):
        if name in ids and draw(st.booleans()):
            assert case.path_parameters is not None
            case.path_parameters[name] = draw(st.sampled_from(ids[name]))
    body = case.body
    if isinstance(body, dict):
        for name, value in existing.body_ids.items():
            if name in body and draw(st.booleans()):
                body[name] = value


def _property(
    operation: Operation, mode: GenerationMode, existing: Existing, statuses: list[int]
) -> Callable[[], None]:
    """The Hypothesis test of one operation in one mode; records each response status."""
    checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS

    @HYPOTHESIS
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def exercise(case: Case[Any], data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            _use_existing_ids(case, data.draw, existing)
        response = case.call_and_validate(checks=checks)
        statuses.append(response.status_code)

    return exercise


def _fuzz(base_url: str, existing: Existing) -> tuple[list[str], dict[str, Counter[int]]]:
    """Every operation in both modes (negative only where there is something to break).

    Returns the failures, and the response statuses per operation and mode so that the
    test can tell that each one was reached.
    """
    config = schemathesis.Config.from_dict(
        {
            "seed": 20240601,
            "base-url": base_url,
            "headers": AUTH,
            "request-timeout": 30,
            "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    failures: list[str] = []
    seen: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the document has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in MODES:
            if mode is GenerationMode.NEGATIVE and operation.label not in NEGATABLE:
                continue
            label = f"{operation.label} [{mode.value}]"
            statuses: list[int] = []
            try:
                known_good = existing.known_good.get(operation.label)
                if mode is GenerationMode.POSITIVE and known_good is not None:
                    case = operation.Case(headers=dict(AUTH), **known_good)
                    response = case.call_and_validate(checks=CHECKS)
                    statuses.append(response.status_code)
                _property(operation, mode, existing, statuses)()
            except (Exception, BaseExceptionGroup) as exc:  # report every operation
                failures.append(f"{label}:\n{exc}")
            seen[label] = Counter(statuses)
    return failures, seen


async def test_every_operation_answers_hostile_input_as_documented(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    release = asyncio.Event()

    async def hold(prompt: str, call_no: int) -> web.Response:
        await release.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    holding = asyncio.Event()

    async def then_hold(prompt: str, call_no: int) -> web.Response:
        if holding.is_set():
            await release.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    quick = await fake_provider(_grade_all_but_the_first)
    held = await fake_provider(hold)
    then_held = await fake_provider(then_hold)
    try:
        base_url, existing = await _seed(services, quick, held, (then_held, holding))
        assert set(existing.known_good) <= set(LABELS), "known_good names a route that is gone"
        failures, seen = await asyncio.to_thread(_fuzz, base_url, existing)
    finally:
        release.set()

    summary = "\n".join(f"{label}: {dict(counts)}" for label, counts in seen.items())
    assert not failures, "\n\n".join(failures) + "\n\nstatuses:\n" + summary
    expected = {f"{label} [positive]" for label in LABELS} | {
        f"{label} [negative]" for label in NEGATABLE
    }
    assert set(seen) == expected, summary
    # Every operation answered its success status at least once, so that body was
    # checked against the document too.
    unreached = [
        f"{spec.method} {spec.path}"
        for spec in ROUTES
        if seen[f"{spec.method} {spec.path} [positive]"][spec.status] == 0
    ]
    assert not unreached, f"no success response from {unreached}:\n{summary}"
