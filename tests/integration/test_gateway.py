"""Behind a gateway: a real nginx in front of the service, serving it under ``/releval``.

The set-up is the one docs/gateway.md describes: nginx strips the prefix
(``proxy_pass http://127.0.0.1:PORT/;``), the service runs with
``RELEVAL_ROOT_PATH=/releval``, and nginx passes on X-Forwarded-For/Proto/Host and an
``X-Request-ID`` (the client's, or its own ``$request_id``). The request id must come
back in the response and be on every log line of the request and of the judging run it
started.

nginx is started by the test (foreground, loopback port, everything under tmp_path). On
a machine without nginx the test fails, saying how to install it: ``make test`` installs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.api import evaluation_body
from tests.support.fakes import FakeProviders
from tests.support.process import ServiceProcess, ServiceProcesses
from tests.support.service import TOKEN, free_port
from tests.support.waiting import wait_for

PREFIX = "/releval"
REQUEST_ID = "gw-test-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

NGINX_CONF = """\
worker_processes 1;
{user}
events {{ worker_connections 256; }}

http {{
    log_format gateway '$remote_addr "$request" $status request_id=$req_id';
    access_log {tmp}/access.log gateway;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    # The client's X-Request-ID when it sends one, else one nginx makes up.
    map $http_x_request_id $req_id {{
        default $http_x_request_id;
        ""      $request_id;
    }}

    server {{
        listen 127.0.0.1:{port};

        location {prefix}/ {{
            # The trailing slash strips the prefix: /releval/api/v1/... -> /api/v1/...
            proxy_pass http://127.0.0.1:{upstream}/;
            {bind}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Prefix {prefix};
            proxy_set_header X-Request-ID $req_id;
            # Streamed NDJSON imports and exports: no buffering, no size cap here (the
            # service enforces RELEVAL_MAX_BODY_BYTES on JSON bodies itself).
            proxy_request_buffering off;
            proxy_buffering off;
            client_max_body_size 0;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def _write_config(tmp: Path, port: int, upstream: int, bind: str | None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            # Workers of a root master would otherwise run as nobody, who cannot write
            # the temporary folders under tmp_path.
            user="user root;" if os.geteuid() == 0 else "",
            tmp=tmp,
            port=port,
            upstream=upstream,
            prefix=PREFIX,
            # The address nginx connects to the service from (its own by default).
            bind=f"proxy_bind {bind};" if bind else "",
        )
    )
    return conf


@dataclass
class Nginx:
    process: asyncio.subprocess.Process
    port: int
    error_log: Path
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(cls, tmp: Path, upstream: int, bind: str | None = None) -> Nginx:
        binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
            None,
        )
        if binary is None:
            pytest.fail(
                "nginx is not installed; the gateway test needs it "
                "(scripts/system-packages installs it, as make test does)"
            )
        port = free_port()
        conf = _write_config(tmp, port, upstream, bind)
        error_log = tmp / "error.log"
        process = await asyncio.create_subprocess_exec(
            binary,
            "-p",
            str(tmp),
            "-c",
            str(conf),
            "-e",
            str(error_log),
            "-g",
            f"daemon off; pid {tmp / 'nginx.pid'}; error_log {error_log} info;",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        nginx = cls(process, port, error_log, tmp / "access.log")
        try:
            async with asyncio.timeout(15):
                while not await nginx._listening():
                    if process.returncode is not None:
                        raise RuntimeError("nginx exited")
                    await asyncio.sleep(0.05)
        except (RuntimeError, TimeoutError):
            stderr = b""
            if process.returncode is not None and process.stderr is not None:
                stderr = await process.stderr.read()
            await nginx.stop()
            log = error_log.read_text() if error_log.exists() else ""
            pytest.fail(f"nginx did not start: {stderr.decode()}\n{log[-3000:]}")
        return nginx

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown of master and workers
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def gateway(
    processes: ServiceProcesses, tmp_path: Path
) -> AsyncIterator[tuple[Nginx, ServiceProcess]]:
    service = processes.new(env={"RELEVAL_ROOT_PATH": PREFIX})
    await service.start()
    nginx = await Nginx.start(tmp_path / "nginx", upstream=service.port)
    yield nginx, service
    await nginx.stop()


async def _json(resp: aiohttp.ClientResponse) -> Any:
    return json.loads(await resp.read())


async def test_every_kind_of_route_answers_under_the_prefix(
    gateway: tuple[Nginx, ServiceProcess],
) -> None:
    nginx, _ = gateway
    base = nginx.url + PREFIX
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{base}/healthz") as resp:
            assert resp.status == 200 and (await _json(resp)) == {"status": "ok"}
        async with client.get(f"{base}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        async with client.get(f"{base}/metrics") as resp:
            assert resp.status == 200 and "releval" in await resp.text()

        async with client.get(f"{base}/api/v1/ai-judges", headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            assert set(await _json(resp)) == {"items", "next_cursor"}
        async with client.get(f"{base}/api/v1/ai-judges") as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert (await _json(resp))["error"]["code"] == "unauthorized"
        async with client.get(f"{base}/api/v1/no-such-route", headers=AUTH) as resp:
            assert resp.status == 404
            assert (await _json(resp))["error"]["code"] == "not_found"

        # Clients (and generated SDKs) find the prefix in the document.
        async with client.get(f"{base}/openapi.json") as resp:
            assert resp.status == 200
            document = await _json(resp)
        assert document["servers"] == [{"url": PREFIX}]
        assert "/api/v1/ai-judges" in document["paths"]

        # Without an X-Request-ID from the client, the one nginx made up is used.
        async with client.get(f"{base}/healthz") as resp:
            assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"]), resp.headers

        # Outside the prefix, nginx has nothing.
        async with client.get(f"{nginx.url}/api/v1/ai-judges", headers=AUTH) as resp:
            assert resp.status == 404
            assert "error" not in await resp.text()


async def test_a_request_id_follows_a_judging_run_through_the_logs(
    gateway: tuple[Nginx, ServiceProcess],
    fake_provider: FakeProviders,
) -> None:
    nginx, service = gateway
    api = nginx.url + PREFIX + "/api/v1"
    provider = await fake_provider()
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.post(
            f"{api}/evaluations/runs", json=evaluation_body(queries=2, per_query=3)
        ) as resp:
            assert resp.status == 201, await resp.text()
            evaluation = await _json(resp)
        judge_body = {
            "name": "gateway judge",
            "provider": "openai",
            "model": "test-model",
            "base_url": provider.base_url,
            "api_key": "sk-test",
            "batch_size": 2,
        }
        async with client.post(f"{api}/ai-judges", json=judge_body) as resp:
            assert resp.status == 201, await resp.text()
            judge = await _json(resp)

        async with client.post(
            f"{api}/evaluations/runs/{evaluation['id']}/ai-judge",
            json={"ai_judge_id": judge["id"]},
            headers={"X-Request-ID": REQUEST_ID},
        ) as resp:
            assert resp.status == 201, await resp.text()
            assert resp.headers["X-Request-ID"] == REQUEST_ID
            run = await _json(resp)

        async def ended() -> bool:
            async with client.get(f"{api}/ai-judging-runs/{run['id']}") as resp:
                body = await _json(resp)
                return body["status"] not in ("queued", "running")

        await wait_for(ended)
        async with client.get(f"{api}/ai-judging-runs/{run['id']}") as resp:
            final = await _json(resp)
    assert final["status"] == "completed" and final["judged"] == 6, final
    # Two queries of three candidates in batches of two (a batch never mixes queries).
    assert len(provider.calls) == 4

    lines = [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]
    tagged = [line for line in lines if line.get("request_id") == REQUEST_ID]
    events = [line["event"] for line in tagged]
    # The request itself, with the path as the gateway received it...
    handled = [line for line in tagged if line["event"] == "request_handled"]
    assert len(handled) == 1, handled
    assert handled[0]["path"] == f"{PREFIX}/api/v1/evaluations/runs/{evaluation['id']}/ai-judge"
    assert handled[0]["status"] == 201
    # ...and everything the judging run it started logged, one line per provider call.
    assert events.count("judging_run_started") == 1, events
    assert events.count("batch_judged") == 4, events
    assert events.count("judging_run_finished") == 1, events
    of_the_run = [line for line in lines if line.get("judging_run_id") == run["id"]]
    assert of_the_run and all(line.get("request_id") == REQUEST_ID for line in of_the_run), [
        (line["event"], line.get("request_id")) for line in of_the_run
    ]

    # nginx's access log has the same id, so the two logs can be joined.
    async def logged() -> bool:
        return nginx.access_log.exists() and REQUEST_ID in nginx.access_log.read_text()

    await wait_for(logged, timeout=5)
    line = next(x for x in nginx.access_log.read_text().splitlines() if REQUEST_ID in x)
    assert f"/releval/api/v1/evaluations/runs/{evaluation['id']}/ai-judge" in line
    assert " 201 " in line


GATEWAY_ADDRESS = "127.0.0.2"  # nginx connects to the service from here
FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def _seen(service: ServiceProcess, request_id: str) -> tuple[str, str]:
    """(client address, path) that the service logged for the request with this id."""
    for line in service.logs().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["event"] == "request_handled" and record.get("request_id") == request_id:
                return record["client"], record["path"]
    raise AssertionError(f"no request_handled line for {request_id}")


async def _login_cookie(client: aiohttp.ClientSession, url: str, **headers: str) -> str:
    async with client.post(
        url, data={"token": TOKEN}, headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        cookie: str = resp.headers["Set-Cookie"]
        return cookie


async def test_forwarded_headers_are_believed_only_from_forwarded_allow_ips(
    processes: ServiceProcesses, tmp_path: Path
) -> None:
    service = processes.new(
        env={"RELEVAL_ROOT_PATH": PREFIX, "RELEVAL_FORWARDED_ALLOW_IPS": GATEWAY_ADDRESS}
    )
    await service.start()
    direct = f"http://127.0.0.1:{service.port}"
    nginx = await Nginx.start(tmp_path / "nginx", upstream=service.port, bind=GATEWAY_ADDRESS)
    try:
        # Through the gateway, from a client at 127.0.0.3 that claims another address
        # and HTTPS: the service believes nginx (the client is 127.0.0.3, the scheme
        # what nginx saw), not what the client claimed.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
        ) as client:
            async with client.get(
                f"{nginx.url}{PREFIX}/healthz", headers={**FORGED, "X-Request-ID": "via-gw"}
            ) as resp:
                assert resp.status == 200
            cookie = await _login_cookie(client, f"{nginx.url}{PREFIX}/ui/login", **FORGED)
        assert _seen(service, "via-gw") == ("127.0.0.3", f"{PREFIX}/healthz")
        assert "secure" not in cookie.lower(), cookie
    finally:
        await nginx.stop()

    # Straight to the service from 127.0.0.1, which is not the gateway: not believed.
    async with aiohttp.ClientSession() as client:
        async with client.get(
            f"{direct}/healthz", headers={**FORGED, "X-Request-ID": "untrusted"}
        ) as resp:
            assert resp.status == 200
        cookie = await _login_cookie(client, f"{direct}/ui/login", **FORGED)
    assert _seen(service, "untrusted")[0] == "127.0.0.1"
    assert "secure" not in cookie.lower(), cookie

    # From the gateway's address the same headers are believed.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(GATEWAY_ADDRESS, 0))
    ) as client:
        async with client.get(
            f"{direct}/healthz", headers={**FORGED, "X-Request-ID": "trusted"}
        ) as resp:
            assert resp.status == 200
        cookie = await _login_cookie(client, f"{direct}/ui/login", **FORGED)
    assert _seen(service, "trusted")[0] == "203.0.113.7"
    assert "secure" in cookie.lower(), cookie


async def test_a_bad_forwarded_allow_ips_refuses_to_start(
    processes: ServiceProcesses,
) -> None:
    service = processes.new(env={"RELEVAL_FORWARDED_ALLOW_IPS": "127.0.0.1,gateway.internal"})
    assert await service.start_refused() == 2
    assert "RELEVAL_FORWARDED_ALLOW_IPS" in service.logs()
    assert "'gateway.internal'" in service.logs()
