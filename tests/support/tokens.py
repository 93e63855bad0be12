"""Stored API tokens, made through the token API with the static (admin) token."""

from __future__ import annotations

from typing import Any

from tests.support.service import Service


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_token(
    service: Service, scopes: list[str], name: str = "a token", **fields: Any
) -> dict[str, Any]:
    """A stored token made through the API with the static (admin) token."""
    status, body = await service.request(
        "POST", "/tokens", json={"name": name, "scopes": scopes, **fields}
    )
    assert status == 201, body
    result: dict[str, Any] = body
    return result
