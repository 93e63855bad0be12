"""Provider keys (docs/security.md, "Provider keys"): which environment variables a judge may
name, a key that does not follow its judge to another URL, keys never echoed, and
RELEVAL_SECRET_KEY rotated without losing a stored key."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from releval_judge.config import Settings
from releval_judge.operator_cli import rotate_secrets
from releval_judge.secrets import SecretBox
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.database import fresh_database
from tests.support.fakes import FakeProvider, FakeProviders
from tests.support.service import Service, ServiceFactory

CANARY = "canary-7f3a9c-never-leaves"
KEY = "sk-owner-key-5b1e8d"


async def _judge_test(service: Service, judge_id: str) -> tuple[int, Any]:
    body = {"query": "q", "candidates": [{"text": "t"}]}
    return await service.request("POST", f"/ai-judges/{judge_id}/test", json=body)


def _keys_seen(provider: FakeProvider) -> list[str | None]:
    return [call.headers.get("Authorization") for call in provider.calls]


@pytest.mark.parametrize(
    "variable",
    ["RELEVAL_API_TOKENS", "RELEVAL_SECRET_KEY", "releval_database_url", "DATABASE_URL", "HOME"],
)
async def test_api_key_env_outside_the_allow_list_is_422(service: Service, variable: str) -> None:
    status, body = await service.request(
        "POST",
        "/ai-judges",
        json={"name": "j", "provider": "openai", "model": "m", "api_key_env": variable},
    )
    error = assert_error(status, body, 422, "validation_error")
    assert variable in error["message"]
    assert error["details"][0]["loc"] == ["body", "api_key_env"]

    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    status, body = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"api_key_env": variable}
    )
    assert_error(status, body, 422, "validation_error")
    status, unchanged = await service.request("GET", f"/ai-judges/{judge['id']}")
    assert (unchanged["api_key_set"], unchanged["api_key_env"]) == (True, None)


async def test_the_allow_list_is_the_operators(services: ServiceFactory) -> None:
    service = await services.start(key_env_allow="TEAM_*_TOKEN, OTHER_KEY")
    for allowed in ("TEAM_SEARCH_TOKEN", "OTHER_KEY"):
        await create_judge(service, "http://127.0.0.1:9/v1", api_key=None, api_key_env=allowed)
    for refused in ("OPENAI_API_KEY", "RELEVAL_TEAM_X_TOKEN"):
        status, body = await service.request(
            "POST",
            "/ai-judges",
            json={"name": "j", "provider": "openai", "model": "m", "api_key_env": refused},
        )
        assert_error(status, body, 422, "validation_error")
    nothing = await services.start(key_env_allow="")
    status, body = await nothing.request(
        "POST",
        "/ai-judges",
        json={"name": "j", "provider": "openai", "model": "m", "api_key_env": "OPENAI_API_KEY"},
    )
    assert "no variable at all" in assert_error(status, body, 422, "validation_error")["message"]


async def test_a_stored_judge_naming_a_service_setting_never_sends_it(
    services: ServiceFactory,
    db: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProviders,
) -> None:
    """A judge stored before the rule (or edited in the database) that names one of the
    service's own variables: runs and tests fail naming the rule, and the value goes
    nowhere."""
    monkeypatch.setenv("RELEVAL_CANARY_SETTING", CANARY)
    provider = await fake_provider()
    service = await services.start()
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    judge = await create_judge(service, provider.base_url, api_key=None)
    await db.execute(
        "UPDATE ai_judges SET api_key_env = 'RELEVAL_CANARY_SETTING' WHERE id = $1::uuid",
        judge["id"],
    )
    run = await start_run(service, evaluation["id"], judge["id"])
    ended = await wait_until_ended(service, run["id"])
    assert ended["status"] == "failed"
    assert "RELEVAL_CANARY_SETTING" in ended["error"]
    assert "service's own settings" in ended["error"]

    status, body = await _judge_test(service, judge["id"])
    assert "RELEVAL_CANARY_SETTING" in assert_error(status, body, 502, "provider_error")["message"]
    assert CANARY not in json.dumps(body) + json.dumps(ended)
    assert provider.calls == []


async def test_an_allowed_variable_is_sent_as_the_key(
    services: ServiceFactory, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProviders
) -> None:
    monkeypatch.setenv("RELEVAL_TEST_SEARCH_API_KEY", "never")  # RELEVAL_*: refused anyway
    monkeypatch.setenv("SEARCH_TEAM_API_KEY", KEY)
    provider = await fake_provider()
    service = await services.start()
    judge = await create_judge(
        service, provider.base_url, api_key=None, api_key_env="SEARCH_TEAM_API_KEY"
    )
    status, body = await _judge_test(service, judge["id"])
    assert status == 200, body
    assert _keys_seen(provider) == [f"Bearer {KEY}"]


async def test_a_key_does_not_follow_its_judge_to_another_url(
    services: ServiceFactory, fake_provider: FakeProviders
) -> None:
    owner = await fake_provider()
    elsewhere = await fake_provider()
    service = await services.start()
    judge = await create_judge(service, owner.base_url, api_key=KEY)
    path = f"/ai-judges/{judge['id']}"

    # The same base_url again, or another field: the key stays.
    status, same = await service.request(
        "PATCH", path, json={"base_url": owner.base_url, "batch_size": 2}
    )
    assert status == 200 and same["api_key_set"] is True, same
    assert (await _judge_test(service, judge["id"]))[0] == 200

    status, moved = await service.request("PATCH", path, json={"base_url": elsewhere.base_url})
    assert status == 200, moved
    assert (moved["api_key_set"], moved["api_key_env"]) == (False, None)
    assert (await _judge_test(service, judge["id"]))[0] == 200

    # A move that brings its own key keeps that one.
    status, back = await service.request(
        "PATCH", path, json={"base_url": owner.base_url, "api_key": "sk-second"}
    )
    assert status == 200 and back["api_key_set"] is True, back
    assert (await _judge_test(service, judge["id"]))[0] == 200

    # A key from the environment is dropped as well, and so is a key on a change of
    # provider.
    status, env = await service.request(
        "PATCH", path, json={"api_key_env": "OWNER_API_KEY", "api_key": None}
    )
    assert status == 200 and env["api_key_env"] == "OWNER_API_KEY", env
    status, moved = await service.request("PATCH", path, json={"base_url": elsewhere.base_url})
    assert (moved["api_key_set"], moved["api_key_env"]) == (False, None), moved
    status, keyed = await service.request("PATCH", path, json={"api_key": KEY})
    assert keyed["api_key_set"] is True
    status, switched = await service.request("PATCH", path, json={"provider": "anthropic"})
    assert status == 200, switched
    assert switched["api_key_set"] is False
    assert _keys_seen(owner) == [f"Bearer {KEY}", "Bearer sk-second"]
    assert _keys_seen(elsewhere) == [None]


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": KEY + "\u0000"},
        {"api_key": KEY * 1000},
        {"apikey": KEY},
        {"api_key": KEY, "batch_size": 0, "fields": {"api_key": KEY}},
    ],
    ids=["nul", "too-long", "misspelt", "beside-another-error"],
)
async def test_a_422_never_echoes_a_key(service: Service, body: dict[str, Any]) -> None:
    payload = {"name": "j", "provider": "openai", "model": "m", **body}
    for method, path in (("POST", "/ai-judges"), ("PATCH", None)):
        if path is None:
            judge = await create_judge(service, "http://127.0.0.1:9/v1")
            path = f"/ai-judges/{judge['id']}"
            payload = body
        async with service.client.request(method, service.api + path, json=payload) as resp:
            text = await resp.text()
        assert resp.status == 422, text
        assert KEY not in text
        assert "validation_error" in text


# --- RELEVAL_SECRET_KEY rotation ------------------------------------------------------------


@pytest.fixture
async def own_database(database_url: str) -> AsyncIterator[str]:
    """A database of this test's own: rotation re-encrypts the canary every service of the
    session's shared database checks its key against."""
    async with fresh_database(database_url, f"releval_rotation_{os.getpid()}") as url:
        yield url


async def test_rotation_moves_every_stored_key_to_the_new_secret(
    own_database: str, tmp_path: Path, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    services = ServiceFactory(own_database, tmp_path)
    try:
        old = await services.start(secret_key="old-secret")
        evaluation = await create_evaluation(old, queries=1, per_query=2)
        judge = await create_judge(old, provider.base_url, api_key=KEY)
        run = await start_run(old, evaluation["id"], judge["id"])
        assert (await wait_until_ended(old, run["id"]))["status"] == "completed"
        await old.stop()

        # A second key that this database does not know: refused, nothing changed.
        wrong = Settings.model_validate({"database_url": own_database, "secret_key": "a,b"})
        assert await rotate_secrets(wrong) == 2

        # Both keys on every replica (the new one first), then the rotation.
        both = await services.start(secret_key="new-secret,old-secret")
        assert (await _judge_test(both, judge["id"]))[0] == 200
        await both.stop()
        rotate = Settings.model_validate(
            {"database_url": own_database, "secret_key": "new-secret, old-secret"}
        )
        assert await rotate_secrets(rotate) == 0

        pool = await asyncpg.connect(own_database)
        try:
            stored = await pool.fetchval(
                "SELECT api_key_encrypted FROM ai_judges WHERE id = $1::uuid", judge["id"]
            )
            snapshot = await pool.fetchval(
                "SELECT judge_config->>'api_key_encrypted' FROM ai_judging_runs "
                "WHERE id = $1::uuid",
                run["id"],
            )
            canary = await pool.fetchval("SELECT token FROM secret_canary")
        finally:
            await pool.close()
        assert SecretBox("new-secret").decrypt(stored) == KEY
        assert SecretBox("new-secret").decrypt(snapshot) == KEY
        # Nothing is left that only the old key reads (a replica with only the old key
        # refuses to start: the canary, tests/integration/test_secrets_check.py).
        for token in (stored, snapshot, canary):
            with pytest.raises(ValueError):
                SecretBox("old-secret").decrypt(token)
        SecretBox("new-secret").decrypt(canary)

        # The old key can go: a replica with only the new one starts and uses the key.
        new = await services.start(secret_key="new-secret")
        assert (await _judge_test(new, judge["id"]))[0] == 200
        await new.stop()
    finally:
        await services.stop()
    assert _keys_seen(provider) == [f"Bearer {KEY}"] * 3
