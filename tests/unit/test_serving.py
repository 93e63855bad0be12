"""The uvicorn configuration built from our settings (releval_judge/serving.py)."""

from __future__ import annotations

import socket

import pytest
from starlette.applications import Starlette

from releval_judge.config import Settings, SettingsError
from releval_judge.serving import forwarded_allow_ips, listening_socket, server_config


def settings(**values: object) -> Settings:
    return Settings.model_validate({"port": 0, **values})


def test_forwarded_headers_are_trusted_from_the_setting_only() -> None:
    assert server_config(Starlette(), settings()).forwarded_allow_ips == ["127.0.0.1"]
    many = settings(forwarded_allow_ips=" 10.0.0.5, 10.1.0.0/16 ,::1")
    assert forwarded_allow_ips(many) == ["10.0.0.5", "10.1.0.0/16", "::1"]
    assert forwarded_allow_ips(settings(forwarded_allow_ips="*")) == "*"


@pytest.mark.parametrize("value", ["gateway.internal", "127.0.0.1,*", "10.0.0.1/8", "127.0.0.l"])
def test_anything_but_addresses_networks_or_a_lone_star_is_refused(value: str) -> None:
    # uvicorn would take each of these as a literal that never matches, or (the star in a
    # list) as nothing at all: a gateway silently not trusted, or worse, a typo unnoticed.
    with pytest.raises(SettingsError, match="RELEVAL_FORWARDED_ALLOW_IPS"):
        forwarded_allow_ips(settings(forwarded_allow_ips=value))


def test_it_serves_on_uvloop_with_httptools_parsing() -> None:
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = server_config(Starlette(), settings())
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    loop = config.get_loop_factory()
    assert loop is not None
    made = loop()
    try:
        assert isinstance(made, uvloop.Loop)
    finally:
        made.close()


def test_idle_keep_alive_connections_close_within_client_idle_s() -> None:
    assert server_config(Starlette(), settings()).timeout_keep_alive == 5
    assert server_config(Starlette(), settings(client_idle_s=2)).timeout_keep_alive == 2
    assert server_config(Starlette(), settings(client_idle_s=0.3)).timeout_keep_alive == 1


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="Linux only")
def test_the_listening_socket_drops_clients_that_read_nothing() -> None:
    config = settings(host="127.0.0.1", client_idle_s=2)
    sock = listening_socket(server_config(Starlette(), config), config)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 6000
    finally:
        sock.close()
