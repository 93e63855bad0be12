"""AI judges: create, read, list, patch, delete; API keys go in encrypted and never come out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from releval_judge.secrets import SecretBox
from tests.support.api import assert_error, create_evaluation, create_judge, wait_until_ended
from tests.support.fakes import FakeProvider
from tests.support.service import Service

KEY = "sk-live-0123456789abcdef"
SECRET_KEY = "test-secret-key"  # what the services fixture configures

JUDGE: dict[str, Any] = {"name": "gpt judge", "provider": "openai", "model": "gpt-4o-mini"}

JUDGE_FIELDS = {
    "id",
    "name",
    "provider",
    "model",
    "base_url",
    "api_key_set",
    "api_key_env",
    "prompt_template",
    "batch_size",
    "concurrency",
    "temperature",
    "delivery",
    "reasoning_effort",
    "cached_input_price_per_mtok",
    "batch_price_factor",
    "max_output_tokens",
    "request_timeout_s",
    "max_retries",
    "requests_per_minute",
    "tokens_per_minute",
    "key_concurrency",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "max_document_chars",
    "fields",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
}


async def _raw(service: Service, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
    async with service.client.request(method, service.api + path, **kwargs) as resp:
        return resp.status, await resp.text()


async def _stored_key(db: asyncpg.Pool, judge_id: str) -> str | None:
    value: str | None = await db.fetchval(
        "SELECT api_key_encrypted FROM ai_judges WHERE id = $1::uuid", judge_id
    )
    return value


async def test_create_returns_the_judge_with_defaults_and_never_the_key(
    service: Service, db: asyncpg.Pool
) -> None:
    status, text = await _raw(service, "POST", "/ai-judges", json={**JUDGE, "api_key": KEY})
    assert status == 201, text
    assert KEY not in text
    judge = json.loads(text)
    assert set(judge) == JUDGE_FIELDS
    assert "api_key" not in judge
    assert judge["api_key_set"] is True
    assert judge["api_key_env"] is None
    assert judge["name"] == "gpt judge"
    assert judge["provider"] == "openai"
    assert judge["model"] == "gpt-4o-mini"
    assert judge["base_url"] is None
    assert judge["prompt_template"] is None  # the default template is used
    assert judge["batch_size"] == 10
    assert judge["concurrency"] == 4
    # Null: not sent, so reasoning models (which refuse any other value) work by default.
    assert judge["temperature"] is None
    assert (judge["delivery"], judge["reasoning_effort"]) == ("live", None)
    assert (judge["batch_price_factor"], judge["cached_input_price_per_mtok"]) == (0.5, None)
    assert judge["request_timeout_s"] == 60
    assert judge["max_retries"] == 5
    assert judge["max_output_tokens"] is None
    assert judge["key_concurrency"] is None  # no budget shared over the key

    for path in [f"/ai-judges/{judge['id']}", "/ai-judges?limit=1000"]:
        status, text = await _raw(service, "GET", path)
        assert status == 200
        assert KEY not in text
        assert '"api_key"' not in text

    stored = await _stored_key(db, judge["id"])
    assert stored is not None
    assert KEY not in stored
    assert SecretBox(SECRET_KEY).decrypt(stored) == KEY, "encrypted, not lost"


async def test_create_with_every_field(service: Service) -> None:
    payload = {
        "name": "claude judge",
        "provider": "anthropic",
        "model": "claude-3-5-haiku",
        "base_url": "https://api.anthropic.com",
        "api_key_env": "ANTHROPIC_API_KEY",
        "prompt_template": "Query: {{ query }}\n{% for c in candidates %}{{ c.id }}{% endfor %}",
        "batch_size": 100,
        "concurrency": 1024,
        "temperature": 0.7,
        "max_output_tokens": 2048,
        "request_timeout_s": 120.5,
        "max_retries": 0,
        "requests_per_minute": 500,
        "tokens_per_minute": 2_000_000_000,
        "key_concurrency": 16,
    }
    status, judge = await service.request("POST", "/ai-judges", json=payload)
    assert status == 201, judge
    assert judge["api_key_set"] is False
    for name, value in payload.items():
        assert judge[name] == value, name

    status, fetched = await service.request("GET", f"/ai-judges/{judge['id']}")
    assert status == 200
    assert fetched == judge


async def test_bad_judges_are_422_naming_the_field(service: Service) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 101}, "batch_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 1025}, "concurrency"),
        ({"key_concurrency": 0}, "key_concurrency"),
        ({"key_concurrency": 1025}, "key_concurrency"),
        ({"batch_size": "ten"}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"provider": "gemini"}, "provider"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"api_key_env": "not a name"}, "api_key_env"),
        ({"api_key": ""}, "api_key"),
        ({"name": ""}, "name"),
        ({"model": None}, "model"),
        ({"api_key_set": True}, "api_key_set"),
        ({"id": str(uuid.uuid4())}, "id"),
    ]
    for change, field in cases:
        status, body = await service.request("POST", "/ai-judges", json={**JUDGE, **change})
        error = assert_error(status, body, 422, "validation_error")
        assert ["body", field] in [d["loc"][:2] for d in error["details"]], (change, error)
    for missing in ["name", "provider", "model"]:
        payload = {k: v for k, v in JUDGE.items() if k != missing}
        status, body = await service.request("POST", "/ai-judges", json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert ["body", missing] in [d["loc"] for d in error["details"]]


async def test_api_key_and_api_key_env_together_are_422(service: Service) -> None:
    status, body = await service.request(
        "POST", "/ai-judges", json={**JUDGE, "api_key": KEY, "api_key_env": "OPENAI_API_KEY"}
    )
    error = assert_error(status, body, 422, "validation_error")
    assert "api_key_env" in error["message"]
    assert KEY not in json.dumps(body)


async def test_a_template_that_does_not_compile_is_422_naming_the_line(
    service: Service,
) -> None:
    cases = [
        ("Query: {{ query }}\nCandidates:\n{% for c in candidates %}{{ c.text }}\n", 3),
        ("Line one\nLine two {{ query }\n", 2),
        ("{{ query }}\n\n{{ no_such_variable }}", 3),
        ("{{ query }}\n{{ candidates[0].text | safe }}", 2),
        ("x\n{{ query.__class__.__mro__ }}", 2),
    ]
    for template, line in cases:
        status, body = await service.request(
            "POST", "/ai-judges", json={**JUDGE, "prompt_template": template}
        )
        error = assert_error(status, body, 422, "validation_error")
        assert f"line {line}" in error["message"], (template, error["message"])
        assert error["details"][0]["loc"] == ["body", "prompt_template"]
        assert error["details"][0]["line"] == line


async def test_patch_changes_only_the_given_fields(service: Service, db: asyncpg.Pool) -> None:
    status, judge = await service.request(
        "POST", "/ai-judges", json={**JUDGE, "api_key": KEY, "batch_size": 7}
    )
    assert status == 201
    path = f"/ai-judges/{judge['id']}"
    stable = {k: v for k, v in judge.items() if k != "updated_at"}

    status, patched = await service.request("PATCH", path, json={"model": "gpt-4o"})
    assert status == 200, patched
    assert {k: v for k, v in patched.items() if k != "updated_at"} == {
        **stable,
        "model": "gpt-4o",
    }
    assert patched["updated_at"] >= judge["updated_at"]
    assert SecretBox(SECRET_KEY).decrypt(await _stored_key(db, judge["id"]) or "") == KEY

    status, patched = await service.request(
        "PATCH", path, json={"concurrency": 16, "temperature": 1.0, "max_output_tokens": 99}
    )
    assert status == 200, patched
    assert (patched["concurrency"], patched["temperature"], patched["max_output_tokens"]) == (
        16,
        1.0,
        99,
    )
    assert (patched["model"], patched["batch_size"], patched["name"]) == ("gpt-4o", 7, "gpt judge")

    status, text = await _raw(service, "PATCH", path, json={"api_key": "sk-new-key"})
    assert status == 200
    assert "sk-new-key" not in text
    assert json.loads(text)["api_key_set"] is True
    assert SecretBox(SECRET_KEY).decrypt(await _stored_key(db, judge["id"]) or "") == "sk-new-key"

    status, patched = await service.request("PATCH", path, json={"max_output_tokens": None})
    assert status == 200
    assert patched["max_output_tokens"] is None
    assert patched["api_key_set"] is True

    # Switching to a key from the environment drops the stored key, and back.
    status, patched = await service.request("PATCH", path, json={"api_key_env": "OPENAI_API_KEY"})
    assert status == 200, patched
    assert (patched["api_key_set"], patched["api_key_env"]) == (False, "OPENAI_API_KEY")
    assert await _stored_key(db, judge["id"]) is None
    status, patched = await service.request("PATCH", path, json={"api_key": KEY})
    assert status == 200, patched
    assert (patched["api_key_set"], patched["api_key_env"]) == (True, None)
    status, patched = await service.request("PATCH", path, json={"api_key": None})
    assert status == 200, patched
    assert patched["api_key_set"] is False

    status, fetched = await service.request("GET", path)
    assert fetched == patched


async def test_patch_refuses_bad_values_and_leaves_the_judge_alone(service: Service) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    path = f"/ai-judges/{judge['id']}"
    for payload, words in [
        ({"name": None}, "name"),
        ({"batch_size": None}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"concurrency": 1025}, "concurrency"),
        ({"provider": "gemini"}, "provider"),
        ({"api_key": "sk-x", "api_key_env": "OPENAI_KEY"}, "api_key_env"),
        ({"api_key_env": "OPENAI_KEY", "api_key": "sk-x"}, "api_key_env"),
        ({"prompt_template": "ok\n{% if %}"}, "line 2"),
        ({"owner": "me"}, "owner"),
    ]:
        status, body = await service.request("PATCH", path, json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert words in error["message"], (payload, error["message"])
    status, fetched = await service.request("GET", path)
    assert fetched == judge


async def test_unknown_judges_are_404(service: Service) -> None:
    for judge_id in [str(uuid.uuid4()), "judge-1"]:
        path = f"/ai-judges/{judge_id}"
        for method, body in [("GET", None), ("PATCH", {"model": "m"}), ("DELETE", None)]:
            status, answer = await service.request(method, path, json=body)
            error = assert_error(status, answer, 404, "not_found")
            assert judge_id in error["message"]


async def test_delete_is_204_then_404(service: Service) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    path = f"/ai-judges/{judge['id']}"
    status, body = await service.request("DELETE", path)
    assert (status, body) == (204, None)
    status, body = await service.request("GET", path)
    assert_error(status, body, 404, "not_found")
    status, body = await service.request("DELETE", path)
    assert_error(status, body, 404, "not_found")
    status, page = await service.request("GET", "/ai-judges", params={"limit": "1000"})
    assert judge["id"] not in [j["id"] for j in page["items"]]


async def test_delete_is_409_while_a_judging_run_of_the_judge_is_active(
    service: Service, stalled_provider: FakeProvider
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    judge = await create_judge(service, stalled_provider.base_url, max_retries=0)
    status, run = await service.request(
        "POST", f"/evaluations/runs/{evaluation['id']}/ai-judge", json={"ai_judge_id": judge["id"]}
    )
    assert status == 201, run
    path = f"/ai-judges/{judge['id']}"

    status, body = await service.request("DELETE", path)
    error = assert_error(status, body, 409, "judge_in_use")
    assert judge["id"] in error["message"]
    status, still = await service.request("GET", path)
    assert status == 200 and still == judge

    status, cancelled = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 200, cancelled
    assert (await wait_until_ended(service, run["id"]))["status"] == "cancelled"

    status, body = await service.request("DELETE", path)
    assert status == 204, body
    status, kept = await service.request("GET", f"/ai-judging-runs/{run['id']}")
    assert status == 200
    assert kept["ai_judge_name"] == judge["name"], "earlier runs keep the judge's name"


async def test_list_pagination_walks_every_judge_exactly_once(
    service: Service, db: asyncpg.Pool
) -> None:
    created = [
        (await service.request("POST", "/ai-judges", json={**JUDGE, "name": f"j{i}"}))[1]
        for i in range(5)
    ]
    seen: list[str] = []
    params = {"limit": "2"}
    while True:
        status, page = await service.request("GET", "/ai-judges", params=params)
        assert status == 200, page
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen))
    assert len(seen) == await db.fetchval("SELECT count(*) FROM ai_judges")
    created_ids = {c["id"] for c in created}
    assert [s for s in seen if s in created_ids] == [c["id"] for c in reversed(created)]

    for bad in [{"limit": "0"}, {"limit": "1001"}, {"cursor": "garbage"}]:
        status, body = await service.request("GET", "/ai-judges", params=bad)
        assert_error(status, body, 422, "validation_error")
