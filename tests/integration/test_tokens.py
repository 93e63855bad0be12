"""The token API (admin only): tokens with scopes and an expiry, shown once, stored as a
hash, listed without it, revoked on every replica within seconds (docs/security.md)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.support.api import assert_error
from tests.support.service import Service, ServiceFactory
from tests.support.tokens import bearer, create_token
from tests.support.waiting import wait_for


async def status_with(service: Service, token: str, path: str = "/ai-judges") -> int:
    status, _ = await service.request("GET", path, headers=bearer(token))
    return status


async def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    service: Service, db: asyncpg.Pool
) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    created = await create_token(
        service, ["write", "read", "write"], name="ci bot", expires_at=expires.isoformat()
    )
    assert set(created) == {"id", "name", "scopes", "token", "created_at", "expires_at"}
    assert created["name"] == "ci bot"
    assert created["scopes"] == ["read", "write"]  # without repeats, least privilege first
    assert datetime.fromisoformat(created["expires_at"]) == expires
    token = created["token"]
    assert len(token) >= 32
    assert await status_with(service, token) == 200

    row = await db.fetchrow(
        "SELECT token_hash, row_to_json(t)::text AS raw FROM api_tokens t WHERE id = $1::uuid",
        created["id"],
    )
    assert row is not None
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row["raw"]

    status, page = await service.request("GET", "/tokens", params={"limit": "1000"})
    assert status == 200, page
    listed = [t for t in page["items"] if t["id"] == created["id"]]
    assert listed == [
        {
            "id": created["id"],
            "name": "ci bot",
            "scopes": ["read", "write"],
            "created_at": created["created_at"],
            "expires_at": created["expires_at"],
            "revoked_at": None,
        }
    ]
    assert token not in str(page) and row["token_hash"] not in str(page)


async def test_the_token_list_is_paged_newest_first_and_keeps_revoked_tokens(
    service: Service,
) -> None:
    made = [await create_token(service, ["read"], name=f"paged {i}") for i in range(3)]
    status, _ = await service.request("DELETE", f"/tokens/{made[0]['id']}")
    assert status == 204
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await service.request("GET", "/tokens", params=params)
        assert status == 200, page
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ours = [t for t in seen if t["name"].startswith("paged ")]
    assert [t["name"] for t in ours] == ["paged 2", "paged 1", "paged 0"]
    assert ours[2]["revoked_at"] is not None
    assert ours[0]["revoked_at"] is None and ours[1]["revoked_at"] is None


async def test_revoking_is_at_once_on_this_replica_and_twice_is_still_204(
    service: Service, db: asyncpg.Pool
) -> None:
    created = await create_token(service, ["write"])
    token = created["token"]
    assert await status_with(service, token) == 200  # now in this replica's cache

    status, body = await service.request("DELETE", f"/tokens/{created['id']}")
    assert status == 204, body
    # Not after the cache's recheck: the replica that revoked it forgot it at once.
    status, body = await service.request("GET", "/ai-judges", headers=bearer(token))
    assert_error(status, body, 401, "unauthorized")
    first = await db.fetchval(
        "SELECT revoked_at FROM api_tokens WHERE id = $1::uuid", created["id"]
    )
    assert first is not None

    status, body = await service.request("DELETE", f"/tokens/{created['id']}")
    assert status == 204, body
    again = await db.fetchval(
        "SELECT revoked_at FROM api_tokens WHERE id = $1::uuid", created["id"]
    )
    assert again == first  # the first revocation's time stays
    assert (
        await db.fetchval("SELECT count(*) FROM api_tokens WHERE id = $1::uuid", created["id"]) == 1
    )  # kept: its name is who did what

    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"]:
        status, body = await service.request("DELETE", f"/tokens/{unknown}")
        assert_error(status, body, 404, "not_found")


async def test_a_revoked_token_is_refused_by_another_replica(services: ServiceFactory) -> None:
    """Two replicas on one database: revoked through one, the other refuses it once its
    cache rechecks (every ``RECHECK_S`` = 2 s; tests/unit/test_token_checker.py holds the
    cache to that bound without a clock)."""
    first = await services.start()
    second = await services.start()
    created = await create_token(first, ["write"])
    token = created["token"]
    # Both replicas now hold the token in their caches.
    assert await status_with(first, token) == 200
    assert await status_with(second, token) == 200

    status, _ = await first.request("DELETE", f"/tokens/{created['id']}")
    assert status == 204

    async def refused() -> bool:
        return await status_with(second, token) == 401

    await wait_for(refused, interval=0.1)
    status, body = await second.request("GET", "/evaluations/runs", headers=bearer(token))
    error = assert_error(status, body, 401, "unauthorized")
    assert "revoked" in error["message"]


async def test_an_expired_token_is_refused_on_every_replica(services: ServiceFactory) -> None:
    first = await services.start()
    second = await services.start()
    expires = datetime.now(UTC) + timedelta(seconds=3)
    token = (await create_token(first, ["read"], expires_at=expires.isoformat()))["token"]
    assert await status_with(first, token) == 200
    assert await status_with(second, token) == 200

    async def refused_by_both() -> bool:
        return await status_with(first, token) == 401 and await status_with(second, token) == 401

    await wait_for(refused_by_both, interval=0.1)
    assert datetime.now(UTC) >= expires


async def test_bad_token_requests_are_422_naming_the_field(service: Service) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scopes": ["read"]}, "name"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "   ", "scopes": ["read"]}, "name"),
        ({"name": "x" * 201, "scopes": ["read"]}, "name"),
        ({"name": "static", "scopes": ["read"]}, "name"),  # who the static tokens are
        ({"name": " Demo ", "scopes": ["read"]}, "name"),
        ({"name": "t"}, "scopes"),
        ({"name": "t", "scopes": []}, "scopes"),
        ({"name": "t", "scopes": ["root"]}, "scopes"),
        ({"name": "t", "scopes": "read"}, "scopes"),
        ({"name": "t", "scopes": ["read"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        (
            {"name": "t", "scopes": ["read"], "expires_at": (now - timedelta(1)).isoformat()},
            "expires_at",
        ),
        (
            {"name": "t", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59-23:59"},
            "expires_at",
        ),
        ({"name": "t", "scopes": ["read"], "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "t", "scopes": ["read"], "token": "my-own"}, "token"),
    ]
    for payload, field in cases:
        status, body = await service.request("POST", "/tokens", json=payload)
        error = assert_error(status, body, 422, "validation_error")
        assert error["details"][0]["loc"][:2] == ["body", field], (payload, error)
        assert error["message"].startswith(field), (payload, error)


async def test_a_write_token_cannot_use_the_token_api(service: Service) -> None:
    write = (await create_token(service, ["write"]))["token"]
    target = await create_token(service, ["read"])
    for method, path, body in [
        ("POST", "/tokens", {"name": "escalate", "scopes": ["admin"]}),
        ("GET", "/tokens", None),
        ("DELETE", f"/tokens/{target['id']}", None),
    ]:
        status, answer = await service.request(method, path, json=body, headers=bearer(write))
        error = assert_error(status, answer, 403, "forbidden")
        assert error["message"] == (
            f"this token's scopes are write; {method} /api/v1/tokens"
            f"{'/{token_id}' if method == 'DELETE' else ''} needs admin"
        )
        assert error["details"] == {"required_scope": "admin", "token_scopes": ["write"]}
    assert await status_with(service, target["token"]) == 200  # not revoked

    admin = (await create_token(service, ["admin"]))["token"]
    status, body = await service.request(
        "POST", "/tokens", json={"name": "by an admin", "scopes": ["read"]}, headers=bearer(admin)
    )
    assert status == 201, body
