"""The outbound policy: which addresses the service may connect to for a provider.

Public addresses only, unless `RELEVAL_PROVIDER_ALLOW` names the address (an IP or a CIDR,
with a port or not) or the host name of the URL (with a port or not). Refused unless so
allowed: loopback, private (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local
(169.254.0.0/16 with the cloud metadata address, fe80::/10), unspecified, multicast, and
the reserved and documentation ranges. IPv4-mapped IPv6 addresses are judged as the IPv4
address they carry; NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses as the IPv4
address they lead to.

`OutboundConnector` applies the policy to the very addresses aiohttp connects to, so a
host name that resolved to a public address when a judge was saved and to an internal one
at the next lookup (DNS rebinding) is refused: see its docstring. `check_base_url` is the
early check made when a judge is saved.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp.abc import ResolveResult
from aiohttp.tracing import Trace

from releval_judge.errors import ValidationFailed
from releval_judge.providers.errors import OutboundRefused

log = structlog.get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING: Final = "RELEVAL_PROVIDER_ALLOW"
# How long saving a judge waits for its base_url's host to resolve; past it (or when the
# name does not resolve at all) the judge is saved and the connection checks again.
SAVE_RESOLVE_TIMEOUT_S: Final = 2.0
METADATA_ADDRESS: Final = ipaddress.IPv4Address("169.254.169.254")


def _networks(kind: str, *cidrs: str) -> list[tuple[IPNetwork, str]]:
    return [(ipaddress.ip_network(cidr), kind) for cidr in cidrs]


# Every range that is not for the public internet, and what to call it in a refusal.
# Written out rather than taken from `ipaddress`'s is_private/is_global, whose lists
# changed between Python releases (and count multicast as global).
_REFUSED_V4: Final = [
    *_networks("an unspecified address", "0.0.0.0/8"),
    *_networks("a loopback address", "127.0.0.0/8"),
    *_networks("a private address", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    *_networks("a shared (carrier-grade NAT) address", "100.64.0.0/10"),
    *_networks("a link-local address", "169.254.0.0/16"),
    *_networks(
        "a reserved or documentation address",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
    ),
    *_networks("a multicast address", "224.0.0.0/4"),
]
_REFUSED_V6: Final = [
    *_networks("an unspecified address", "::/128"),
    *_networks("a loopback address", "::1/128"),
    *_networks("a private address", "fc00::/7", "fec0::/10", "64:ff9b:1::/48"),
    *_networks("a link-local address", "fe80::/10"),
    *_networks("a multicast address", "ff00::/8"),
    *_networks(
        "a reserved or documentation address",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
    ),
]
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")
_NAT64_V6: Final = ipaddress.IPv6Network("64:ff9b::/96")

_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")


def normalise(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address leads to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in _NAT64_V6:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def classify(address: IPAddress) -> str | None:
    """None for a public address; else what it is ("a loopback address", …)."""
    address = normalise(address)
    inner = embedded_ipv4(address)
    if inner is not None:
        kind = classify(inner)
        return None if kind is None else f"{kind} ({address} leads to {inner})"
    if isinstance(address, ipaddress.IPv4Address):
        if address == METADATA_ADDRESS:
            return "the cloud metadata address (link-local)"
        table = _REFUSED_V4
    else:
        table = _REFUSED_V6
    for network, kind in table:
        if address in network:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "a reserved or documentation address"
    return None


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One entry of `RELEVAL_PROVIDER_ALLOW`: a host name or a network, and maybe a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def allows_host(self, host: str, port: int) -> bool:
        return self.host is not None and self.host == host and self.port in (None, port)

    def allows_address(self, address: IPAddress, port: int) -> bool:
        if self.network is None or self.port not in (None, port):
            return False
        return address.version == self.network.version and address in self.network


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The parsed `RELEVAL_PROVIDER_ALLOW` and the rule that uses it."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> OutboundPolicy:
        """A comma list of hosts, `host:port`, IPs, CIDRs (IPv6 in brackets when a port
        follows: `[fd00::1]:8000`); raises ValueError naming the first bad entry."""
        items = [item.strip() for item in raw.split(",") if item.strip()]
        return cls(tuple(_parse_entry(item) for item in items))

    def host_allowed(self, host: str, port: int) -> bool:
        """True when the URL's host name (with this port) is named by an entry: whatever
        it resolves to is then trusted, as the operator said."""
        name = _host_key(host)
        return any(entry.allows_host(name, port) for entry in self.entries)

    def refusal(self, address: str, port: int) -> str | None:
        """None when the service may connect to `address`:`port`; else what it is."""
        try:
            parsed = normalise(ipaddress.ip_address(address))
        except ValueError:
            return "not an IP address"
        kind = classify(parsed)
        if kind is None:
            return None
        candidates = [parsed]
        inner = embedded_ipv4(parsed)
        if inner is not None:
            candidates.append(inner)
        for entry in self.entries:
            if any(entry.allows_address(candidate, port) for candidate in candidates):
                return None
        return kind

    def message(self, address: str, host: str, port: int, kind: str) -> str:
        """The refusal as a user reads it: the address, the host, the policy, the setting."""
        where = (
            _endpoint(host, port) if _is_address(host) else f"{address} ({_endpoint(host, port)})"
        )
        return (
            f"refused to connect to {where}: {kind}; the outbound policy allows only public "
            f"addresses unless {SETTING} names it (docs/security.md)"
        )

    def check(self, host: str, port: int, addresses: Sequence[str]) -> list[str]:
        """The addresses of `addresses` that the service may connect to for `host`:`port`
        (all of them when the host name is allowed); raises OutboundRefused when none."""
        if self.host_allowed(host, port):
            return list(addresses)
        allowed = [a for a in addresses if self.refusal(a, port) is None]
        if allowed or not addresses:
            return allowed
        first = addresses[0]
        kind = self.refusal(first, port) or "refused"
        log.warning("outbound_refused", host=host, port=port, address=first, reason=kind)
        raise OutboundRefused(self.message(first, host, port, kind), host=host, address=first)


def _parse_entry(item: str) -> AllowEntry:
    body, port = item, None
    if "://" in item:
        raise ValueError(f"{item!r}: write the host (and :port), not a URL")
    if item.startswith("["):
        end = item.find("]")
        rest = item[end + 1 :] if end > 0 else "?"
        if rest and not rest.startswith(":"):
            raise ValueError(f"{item!r}: write an IPv6 address with a port as [addr]:port")
        body = item[1:end]
        port = _port(item, rest[1:]) if rest else None
    elif item.count(":") == 1:
        body, port_text = item.split(":")
        port = _port(item, port_text)
    if "/" in body:
        try:
            network = ipaddress.ip_network(body)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a CIDR ({exc})") from exc
        return AllowEntry(network=network, port=port)
    try:
        address = normalise(ipaddress.ip_address(body))
    except ValueError:
        pass
    else:
        return AllowEntry(network=ipaddress.ip_network(address), port=port)
    name = _host_key(body)
    if not _HOST_NAME.fullmatch(name) or len(name) > 253 or name.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"{item!r} is neither a host name, an IP address nor a CIDR")
    return AllowEntry(host=name, port=port)


def _port(item: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
    return int(text)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _host_key(host: str) -> str:
    """Host names compare without case and without the trailing dot of an FQDN."""
    return host.lower().rstrip(".")


class OutboundConnector(aiohttp.TCPConnector):
    """A TCPConnector that connects only where `policy` allows.

    The hook is `_resolve_host`: aiohttp calls it for every new connection, literal IP
    hosts included (for those it returns the address without a lookup), DNS cache or not,
    and `_create_direct_connection` connects to exactly the list it returns (turned into
    the address infos of happy eyeballs; no other lookup is made). The policy filters that
    list here, so the check and the connection use one and the same resolution: a host
    name that resolves to a public address once and to an internal one the next time
    (DNS rebinding) is judged on the answer that is connected to. A proxy would be reached
    through the same method; the session does not take one from the environment
    (`trust_env` stays False). tests/integration/test_outbound_policy.py pins this on the
    aiohttp installed (a literal IP, a resolved name, a rebinding resolver).
    """

    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        resolved = await super()._resolve_host(host, port, traces=traces)
        allowed = set(self.policy.check(host, port, [r["host"] for r in resolved]))
        return [r for r in resolved if r["host"] in allowed]


async def check_base_url(base_url: str | None, policy: OutboundPolicy) -> None:
    """A judge's `base_url` whose host is a refused literal IP, or a name that resolves
    (within `SAVE_RESOLVE_TIMEOUT_S`, off the event loop) only to refused addresses, is a
    ValidationFailed on `base_url`. A name that does not resolve now is accepted: every
    connection is checked again (`OutboundConnector`)."""
    if base_url is None:
        return
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise _invalid(f"base_url is not a valid URL: {exc}") from exc
    if not host:
        raise _invalid("base_url has no host")
    port = port or (443 if parts.scheme == "https" else 80)
    if policy.host_allowed(host, port):
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await _resolve(host, port)
    try:
        policy.check(host, port, addresses)
    except OutboundRefused as exc:
        raise _invalid(exc.message) from exc


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(SAVE_RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"loc": ["body", "base_url"], "msg": message}])
