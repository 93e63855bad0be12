"""Bearer-token auth: every /api/v1 route refuses a request without a valid token."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from releval_judge.api.routes import ROUTES, RouteSpec
from tests.support.api import assert_error
from tests.support.cli import run
from tests.support.service import Service, ServiceFactory

PROTECTED = [spec for spec in ROUTES if spec.auth]


def _url(service: Service, spec: RouteSpec) -> str:
    """The route's path with every path parameter filled in by an id that does not exist."""
    path = spec.path
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return service.base_url + path


@pytest.fixture
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_every_api_route_is_declared_with_auth() -> None:
    for spec in ROUTES:
        if spec.path.startswith("/api/"):
            assert spec.auth, f"{spec.method} {spec.path} must require a token"
    assert PROTECTED


async def test_every_route_the_app_serves_is_in_the_route_table(service: Service) -> None:
    app = service.server.config.app
    assert isinstance(app, Starlette)
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    declared = {(spec.method, spec.path) for spec in ROUTES}
    assert served - declared == {("GET", "/openapi.json")}


BAD_AUTHORIZATIONS: list[str | None] = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong-token",
    "Basic dGVzdC10b2tlbg==",
    "test-token",
]


async def test_every_protected_route_refuses_a_request_without_a_valid_token(
    service: Service, anonymous: aiohttp.ClientSession
) -> None:
    """Walks the route table, so a route added without auth fails here."""
    failures: list[str] = []
    for spec in PROTECTED:
        for authorization in BAD_AUTHORIZATIONS:
            headers = {} if authorization is None else {"Authorization": authorization}
            async with anonymous.request(
                spec.method, _url(service, spec), headers=headers, json={}
            ) as resp:
                status, body = resp.status, await resp.json(content_type=None)
                challenge = resp.headers.get("WWW-Authenticate")
            try:
                assert_error(status, body, 401, "unauthorized")
                assert challenge == "Bearer"
            except AssertionError as exc:
                failures.append(f"{spec.method} {spec.path} with {authorization!r}: {exc}")
    assert not failures, "\n".join(failures)


async def test_unknown_api_route_is_401_without_a_token(
    service: Service, anonymous: aiohttp.ClientSession
) -> None:
    """Without a token the API does not tell which routes exist."""
    async with anonymous.get(service.api + "/no-such-thing") as resp:
        assert_error(resp.status, await resp.json(), 401, "unauthorized")


async def test_the_right_token_is_accepted(service: Service) -> None:
    status, body = await service.request("GET", "/evaluations/runs")
    assert status == 200, body


async def test_each_of_several_static_tokens_works(services: ServiceFactory) -> None:
    service = await services.start(api_tokens="first-token, second-token")
    for token, expected in [("first-token", 200), ("second-token", 200), ("test-token", 401)]:
        status, _ = await service.request(
            "GET", "/ai-judges", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == expected, token


async def test_token_created_by_the_cli_authenticates_and_only_its_hash_is_stored(
    service: Service,
    anonymous: aiohttp.ClientSession,
    database_url: str,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "RELEVAL_DATABASE_URL": database_url,
        "RELEVAL_DATA_DIR": str(tmp_path / "cli"),
    }
    created = await run("releval_judge", "token", "create", "--name", "ci-bot", env=env)
    assert created.code == 0, created.stderr
    token = created.stdout.strip()
    assert token and "\n" not in token
    assert "shown only this once" in created.stderr

    async with anonymous.get(
        service.api + "/evaluations/runs", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200
    async with anonymous.get(
        service.api + "/evaluations/runs", headers={"Authorization": f"Bearer {token}x"}
    ) as resp:
        assert resp.status == 401

    rows = await db.fetch("SELECT name, token_hash, row_to_json(t)::text AS raw FROM api_tokens t")
    mine = [r for r in rows if r["name"] == "ci-bot"]
    assert len(mine) == 1
    assert mine[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in r["raw"] for r in rows)
