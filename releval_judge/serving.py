"""The HTTP server's settings, from ours: one place for ``releval-judge serve`` and the tests.

- Forwarded headers (``X-Forwarded-For``/``-Proto``) are believed only from the peers of
  RELEVAL_FORWARDED_ALLOW_IPS; uvicorn's proxy-headers middleware then sets the request's
  client address and scheme, which is all the service reads (logs, the UI's Secure cookie).
- An idle keep-alive connection is closed after :data:`KEEP_ALIVE_S`, or sooner when
  RELEVAL_CLIENT_IDLE_S is shorter.
- The listening socket carries ``TCP_USER_TIMEOUT`` (Linux), inherited by every accepted
  connection: the kernel drops a connection whose client has acknowledged nothing of what
  we sent for :func:`kernel_cut_s`. The application stops writing to a client that reads
  nothing after RELEVAL_CLIENT_IDLE_S already (``web/idle.py``, which logs the cut); the
  kernel then closes the socket itself, which a close would otherwise keep open (with its
  buffers) until the client reads them. The kernel's clock starts when the client's window
  closes, the application's when our buffers are full too: the factor leaves room between.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Final

import uvicorn
from starlette.types import ASGIApp

from releval_judge.config import Settings, SettingsError

#: uvicorn's own default for idle keep-alive connections.
KEEP_ALIVE_S: Final = 5
#: The kernel's cut comes this many RELEVAL_CLIENT_IDLE_S after a client stops reading.
KERNEL_CUT_FACTOR: Final = 3


def forwarded_allow_ips(settings: Settings) -> str | list[str]:
    """RELEVAL_FORWARDED_ALLOW_IPS checked: ``*`` alone, or IP addresses and networks."""
    items = [item.strip() for item in settings.forwarded_allow_ips.split(",") if item.strip()]
    if items == ["*"]:
        return "*"
    for item in items:
        try:
            if "/" in item:
                ipaddress.ip_network(item)
            else:
                ipaddress.ip_address(item)
        except ValueError as exc:
            raise SettingsError(
                f"bad setting: RELEVAL_FORWARDED_ALLOW_IPS: {item!r} is not an IP address "
                "or network (e.g. 10.0.0.0/8); use '*' alone to trust every peer"
            ) from exc
    return items


def server_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app`` as ``settings`` say.

    Its ``loop`` and ``http`` stay "auto": uvicorn takes uvloop and httptools, both
    dependencies, and falls back to asyncio and h11 where they cannot be installed."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "root_path": settings.root_path,
        "proxy_headers": True,
        "forwarded_allow_ips": forwarded_allow_ips(settings),
        "timeout_keep_alive": max(1, min(KEEP_ALIVE_S, int(settings.client_idle_s))),
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s) + 5,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def kernel_cut_s(client_idle_s: float) -> float:
    """When the kernel drops a connection whose client reads nothing (``TCP_USER_TIMEOUT``)."""
    return KERNEL_CUT_FACTOR * client_idle_s


def listening_socket(config: uvicorn.Config, settings: Settings) -> socket.socket:
    """The bound socket to serve on (``Server.serve(sockets=[...])``), with the kernel's
    cut of clients that read nothing where the platform has one."""
    sock = config.bind_socket()
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        cut_ms = int(kernel_cut_s(settings.client_idle_s) * 1000)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, cut_ms)
    return sock
