"""The outbound policy on a real service, a real PostgreSQL and real local servers: a
catcher on 127.0.0.2 (Linux routes all of 127/8 to the loopback interface) stands for the
internal network, and receives nothing whatever a judge's author tries: a base_url on it,
a provider redirecting to it, a host name resolving to it (DNS rebinding), a batch's
results_url naming it."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from releval_judge.providers import OpenAIProvider, OutboundRefused, Prompt, ProviderConfig
from releval_judge.providers.outbound import OutboundConnector, OutboundPolicy
from releval_judge.sim import SimConfig
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import FakeProviders, Responder
from tests.support.hostile import Catcher, Rewriter
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory, wait_until_idle

POLICY = "the outbound policy allows only public addresses unless RELEVAL_PROVIDER_ALLOW names it"
INLINE = {"query": "headphones", "candidates": [{"text": "Over-ear headphones."}]}


@pytest.fixture
async def catcher(local_servers: LocalServers) -> Catcher:
    return await local_servers.start(Catcher())


def redirect_to(target: str) -> Responder:
    async def respond(prompt: str, call_no: int) -> web.Response:
        return web.Response(status=307, headers={"Location": target})

    return respond


async def judge_test(service: Service, judge_id: str) -> tuple[int, Any]:
    return await service.request("POST", f"/ai-judges/{judge_id}/test", json=INLINE)


async def failed_run(service: Service, judge_id: str) -> dict[str, Any]:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    run = await start_run(service, evaluation["id"], judge_id)
    final = await wait_until_ended(service, run["id"])
    await wait_until_idle(service)
    assert final["status"] == "failed", final
    assert final["judged"] == 0, final
    return final


# --- saving a judge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "kind"),
    [
        ("http://127.0.0.2:{port}/v1", "127.0.0.2:{port}: a loopback address"),
        ("http://169.254.169.254/latest", "the cloud metadata address (link-local)"),
        ("http://[::ffff:169.254.169.254]/v1", "the cloud metadata address (link-local)"),
        ("http://[::ffff:127.0.0.2]:{port}/v1", "a loopback address"),
        ("http://10.0.0.5:8000/v1", "10.0.0.5:8000: a private address"),
        ("http://[fd00::1]/v1", "a private address"),
    ],
)
async def test_a_base_url_on_a_refused_address_is_a_422_when_a_judge_is_saved(
    service: Service, catcher: Catcher, base_url: str, kind: str
) -> None:
    url = base_url.format(port=catcher.port)
    body = {"name": "j", "provider": "openai", "model": "m", "base_url": url}
    status, answer = await service.request("POST", "/ai-judges", json=body)
    error = assert_error(status, answer, 422, "validation_error")
    assert kind.format(port=catcher.port) in error["message"] and POLICY in error["message"]
    assert error["details"][0]["loc"] == ["body", "base_url"]
    assert catcher.connections == 0


async def test_a_patch_to_a_refused_base_url_is_a_422_and_changes_nothing(
    service: Service, catcher: Catcher
) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    status, answer = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"base_url": catcher.url + "/v1"}
    )
    error = assert_error(status, answer, 422, "validation_error")
    assert "127.0.0.2" in error["message"] and POLICY in error["message"]
    status, stored = await service.request("GET", f"/ai-judges/{judge['id']}")
    assert stored["base_url"] == "http://127.0.0.1:9/v1"
    # A change of another field leaves the stored (allowed) base_url alone.
    status, renamed = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"name": "renamed"}
    )
    assert status == 200, renamed
    assert catcher.connections == 0


async def test_a_host_name_is_judged_by_what_it_resolves_to(services: ServiceFactory) -> None:
    strict = await services.start(provider_allow="")
    body = {"name": "j", "provider": "openai", "model": "m"}
    status, answer = await strict.request(
        "POST", "/ai-judges", json={**body, "base_url": "http://localhost:11434/v1"}
    )
    error = assert_error(status, answer, 422, "validation_error")
    assert "(localhost:11434): a loopback address" in error["message"]
    # A name that does not resolve now is accepted: each connection is checked again.
    status, judge = await strict.request(
        "POST", "/ai-judges", json={**body, "base_url": "http://no-such-host.invalid/v1"}
    )
    assert status == 201, judge
    await strict.stop()
    named = await services.start(provider_allow="localhost:11434")
    status, judge = await named.request(
        "POST", "/ai-judges", json={**body, "base_url": "http://localhost:11434/v1"}
    )
    assert status == 201, judge


# --- connecting --------------------------------------------------------------------------


async def test_a_judge_test_and_a_run_never_reach_an_address_that_is_not_allowed(
    services: ServiceFactory, catcher: Catcher
) -> None:
    # Saved while the policy allowed it (an operator narrowed it since).
    permissive = await services.start(provider_allow="127.0.0.1,127.0.0.2")
    judge = await create_judge(permissive, catcher.url + "/v1")
    await permissive.stop()
    service = await services.start()  # allows 127.0.0.1 only

    status, answer = await judge_test(service, judge["id"])
    error = assert_error(status, answer, 502, "provider_error")
    refusal = f"refused to connect to 127.0.0.2:{catcher.port}: a loopback address; {POLICY}"
    assert error["message"].startswith(refusal), error
    final = await failed_run(service, judge["id"])
    assert final["error"].startswith(refusal), final
    assert catcher.connections == 0


@pytest.mark.parametrize("catcher_allowed", [False, True])
async def test_a_redirect_is_never_followed(
    services: ServiceFactory, catcher: Catcher, catcher_allowed: bool, fake_provider: FakeProviders
) -> None:
    target = catcher.url + "/v1/chat/completions"
    provider = await fake_provider(redirect_to(target))
    allow = "127.0.0.1,127.0.0.2" if catcher_allowed else "127.0.0.1"
    service = await services.start(provider_allow=allow)
    judge = await create_judge(service, provider.base_url, max_retries=3)
    status, answer = await judge_test(service, judge["id"])
    error = assert_error(status, answer, 502, "provider_error")
    said = f"the provider answered HTTP 307, a redirect to {target}; redirects are never"
    assert error["message"].startswith(said), error
    assert len(provider.calls) == 1  # fatal: not retried
    final = await failed_run(service, judge["id"])
    assert final["error"].startswith(said), final
    assert catcher.connections == 0


class Rebinding(AbstractResolver):
    """A DNS server under an attacker's control: each lookup gets the next answer."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


class Dialled:
    """A socket factory that records every address a connector connects a socket to."""

    def __init__(self) -> None:
        self.addresses: list[tuple[str, int]] = []

    def __call__(self, addr_info: Any) -> socket.socket:
        family, kind, proto, _, address = addr_info
        self.addresses.append((address[0], address[1]))
        return socket.socket(family, kind, proto)


async def test_dns_rebinding_is_judged_on_the_answer_that_is_connected_to(
    local_servers: LocalServers, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider()
    # The same port on 127.0.0.2.
    catcher = await local_servers.start(Catcher(port=provider.port))
    dialled = Dialled()
    resolver = Rebinding("127.0.0.1", "127.0.0.2")
    connector = OutboundConnector(
        OutboundPolicy.parse("127.0.0.1"),
        resolver=resolver,
        use_dns_cache=False,
        force_close=True,
        socket_factory=dialled,
    )
    config = ProviderConfig(
        provider="openai", model="m", base_url=f"http://rebind.example:{provider.port}/v1"
    )
    prompt = Prompt('<document id="1">text</document>')
    async with aiohttp.ClientSession(connector=connector) as session:
        client = OpenAIProvider(config, session)
        assert (await client.complete(prompt)).text.startswith('<candidate id="1">')
        with pytest.raises(OutboundRefused) as raised:
            await client.complete(prompt)
    assert raised.value.message.startswith(
        f"refused to connect to 127.0.0.2 (rebind.example:{provider.port}): a loopback address"
    )
    assert resolver.lookups == 2
    assert len(provider.calls) == 1
    assert dialled.addresses == [("127.0.0.1", provider.port)]
    assert catcher.connections == 0


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:8080/v1"]
)
async def test_a_literal_address_is_refused_before_any_socket_is_connected(url: str) -> None:
    dialled = Dialled()
    connector = OutboundConnector(OutboundPolicy.parse(""), socket_factory=dialled)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(OutboundRefused, match="RELEVAL_PROVIDER_ALLOW"):
            await session.get(url)
    assert dialled.addresses == []


# --- URLs a provider's answer names ----------------------------------------------------------


async def test_a_results_url_on_a_refused_address_fails_the_batch_run(
    services: ServiceFactory, local_servers: LocalServers, catcher: Catcher
) -> None:
    sim_port = await local_servers.sim(SimConfig(latency_ms=0, seed=7, batch_completion_s=0.5))
    upstream = f"http://127.0.0.1:{sim_port}"
    proxy = await local_servers.start(Rewriter(upstream, results_origin=catcher.url))
    service = await services.start(batch_poll_s=0.1)
    judge = await create_judge(
        service, proxy.url, provider="anthropic", model="claude-x", delivery="batch"
    )
    final = await failed_run(service, judge["id"])
    assert final["error"].startswith(
        f"refused to connect to 127.0.0.2:{catcher.port}: a loopback address; {POLICY}"
    ), final
    assert catcher.connections == 0
