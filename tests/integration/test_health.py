"""The unauthenticated probes and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from starlette.applications import Starlette

from releval_judge.api.routes import ROUTES
from releval_judge.services import Services
from tests.support.service import Service, ServiceFactory


@pytest.fixture
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """A client without a token: the probes and the document must not need one."""
    async with aiohttp.ClientSession() as session:
        yield session


async def test_healthz_answers_without_a_token(
    service: Service, anonymous: aiohttp.ClientSession
) -> None:
    async with anonymous.get(service.base_url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_readyz_reports_the_database_reachable(
    service: Service, anonymous: aiohttp.ClientSession
) -> None:
    async with anonymous.get(service.base_url + "/readyz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "database": "ok"}


async def test_readyz_is_503_when_the_database_is_unreachable(
    services: ServiceFactory, anonymous: aiohttp.ClientSession
) -> None:
    service = await services.start()
    app = service.server.config.app
    assert isinstance(app, Starlette)
    svc: Services = app.state.services
    await svc.store.pool.close()  # what a lost database looks like to the service

    async with anonymous.get(service.base_url + "/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["database"].startswith("unreachable")
    async with anonymous.get(service.base_url + "/healthz") as resp:
        assert resp.status == 200, "the process is still up"


async def test_openapi_document_lists_every_route(
    service: Service, anonymous: aiohttp.ClientSession
) -> None:
    async with anonymous.get(service.base_url + "/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        document = json.loads(await resp.read())

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "releval-judge"
    paths = document["paths"]
    for spec in ROUTES:
        assert spec.path in paths, spec.path
        operation = paths[spec.path].get(spec.method.lower())
        assert operation is not None, f"{spec.method} {spec.path} missing"
        assert str(spec.status) in operation["responses"]
        if spec.auth:
            assert operation["security"] == [{"bearer": []}]
            assert "401" in operation["responses"]
        else:
            assert operation["security"] == []
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert documented == {(s.method, s.path) for s in ROUTES}

    # Every $ref points at a schema the document defines.
    schemas = document["components"]["schemas"]
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        prefix = "#/components/schemas/"
        assert ref.startswith(prefix), ref
        assert ref[len(prefix) :] in schemas, ref
