"""The outbound policy's pure part: RELEVAL_PROVIDER_ALLOW parsed, addresses classified
(IPv4, IPv6, IPv4-mapped, NAT64, 6to4), entries matched with and without a port."""

from __future__ import annotations

import ipaddress

import pytest

from releval_judge.config import Settings, SettingsError, load_settings
from releval_judge.providers import OutboundRefused
from releval_judge.providers.outbound import AllowEntry, OutboundPolicy, classify


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("172.32.0.1", None),  # just past 172.16.0.0/12
        ("100.128.0.1", None),  # just past 100.64.0.0/10
        ("127.0.0.1", "a loopback address"),
        ("127.0.0.2", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("169.254.169.254", "the cloud metadata address (link-local)"),
        ("169.254.1.1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("255.255.255.255", "a reserved or documentation address"),
        ("192.0.2.10", "a reserved or documentation address"),
        ("198.18.0.1", "a reserved or documentation address"),
        ("2606:4700:4700::1111", None),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "the cloud metadata address (link-local)"),
        ("::ffff:8.8.8.8", None),
        ("fc00::1", "a private address"),
        ("fd00:ec2::254", "a private address"),  # the AWS metadata service over IPv6
        ("fe80::1", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a reserved or documentation address"),
        ("::7f00:1", "a reserved or documentation address"),  # IPv4-compatible, deprecated
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
        ("64:ff9b::a00:5", "a private address (64:ff9b::a00:5 leads to 10.0.0.5)"),
        ("2002:7f00:1::", "a loopback address (2002:7f00:1:: leads to 127.0.0.1)"),
    ],
)
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert classify(ipaddress.ip_address(address)) == kind


def test_entries_of_every_form_are_parsed() -> None:
    policy = OutboundPolicy.parse(
        " 127.0.0.1, 10.0.0.0/8:8000 ,vLLM.Internal.:8000,localhost, ::1,[fd00::7]:11434,"
        "fd00:1::/32, [fd00:2::/32]:443, ::ffff:192.168.1.9,,"
    )
    assert policy.entries == (
        AllowEntry(network=ipaddress.ip_network("127.0.0.1/32")),
        AllowEntry(network=ipaddress.ip_network("10.0.0.0/8"), port=8000),
        AllowEntry(host="vllm.internal", port=8000),
        AllowEntry(host="localhost"),
        AllowEntry(network=ipaddress.ip_network("::1/128")),
        AllowEntry(network=ipaddress.ip_network("fd00::7/128"), port=11434),
        AllowEntry(network=ipaddress.ip_network("fd00:1::/32")),
        AllowEntry(network=ipaddress.ip_network("fd00:2::/32"), port=443),
        AllowEntry(network=ipaddress.ip_network("192.168.1.9/32")),  # mapped: judged as IPv4
    )
    assert OutboundPolicy.parse("").entries == ()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("10.0.0.0/33", "is not a CIDR"),
        ("10.0.0.1/8", "has host bits set"),
        ("host:0", "the port must be a number from 1 to 65535"),
        ("host:65536", "the port must be a number from 1 to 65535"),
        ("host:http", "the port must be a number from 1 to 65535"),
        ("[::1]8000", "write an IPv6 address with a port as [addr]:port"),
        ("[::1", "write an IPv6 address with a port as [addr]:port"),
        ("http://vllm.internal", "write the host (and :port), not a URL"),
        ("bad host", "neither a host name, an IP address nor a CIDR"),
        ("*", "neither a host name, an IP address nor a CIDR"),
        ("127.1", "neither a host name, an IP address nor a CIDR"),
        ("-x.example", "neither a host name, an IP address nor a CIDR"),
    ],
)
def test_a_bad_entry_is_named(entry: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        OutboundPolicy.parse(f"127.0.0.1,{entry}")
    assert repr(entry) in str(raised.value) and says in str(raised.value)


def test_a_bad_setting_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELEVAL_PROVIDER_ALLOW", "127.0.0.1,10.0.0.0/33")
    with pytest.raises(SettingsError, match=r"RELEVAL_PROVIDER_ALLOW:.*'10\.0\.0\.0/33'"):
        load_settings()
    monkeypatch.setenv("RELEVAL_PROVIDER_ALLOW", "127.0.0.1:11434")
    assert load_settings().outbound_policy == OutboundPolicy.parse("127.0.0.1:11434")


def test_nothing_but_public_addresses_by_default() -> None:
    policy = Settings().outbound_policy
    assert policy.refusal("8.8.8.8", 443) is None
    assert policy.refusal("127.0.0.1", 443) == "a loopback address"
    assert policy.refusal("not-an-address", 443) == "not an IP address"


def test_an_address_entry_allows_that_address_on_any_port_or_on_its_own() -> None:
    policy = OutboundPolicy.parse("127.0.0.1,10.0.0.0/8:8000,[fd00::7]:11434")
    assert policy.refusal("127.0.0.1", 1) is None
    assert policy.refusal("::ffff:127.0.0.1", 80) is None  # the same address, mapped
    assert policy.refusal("127.0.0.2", 80) == "a loopback address"
    assert policy.refusal("::1", 80) == "a loopback address"
    assert policy.refusal("10.200.0.1", 8000) is None
    assert policy.refusal("10.200.0.1", 8001) == "a private address"
    assert policy.refusal("fd00::7", 11434) is None
    assert policy.refusal("fd00::7", 80) == "a private address"
    assert policy.refusal("169.254.169.254", 80) == "the cloud metadata address (link-local)"


def test_a_nat64_address_is_allowed_by_the_entry_of_the_ipv4_it_leads_to() -> None:
    policy = OutboundPolicy.parse("10.0.0.5")
    assert policy.refusal("64:ff9b::a00:5", 443) is None
    assert policy.refusal("64:ff9b::a00:6", 443) is not None


def test_a_host_entry_allows_that_host_name_whatever_it_resolves_to() -> None:
    policy = OutboundPolicy.parse("vllm.internal:8000,localhost")
    assert policy.host_allowed("VLLM.internal.", 8000)
    assert not policy.host_allowed("vllm.internal", 8001)
    assert not policy.host_allowed("other.internal", 8000)
    assert policy.host_allowed("localhost", 11434)
    assert policy.check("vllm.internal", 8000, ["10.0.0.5", "127.0.0.1"]) == [
        "10.0.0.5",
        "127.0.0.1",
    ]
    # The name, not the address: another name for the same address is refused.
    with pytest.raises(OutboundRefused):
        policy.check("evil.example", 8000, ["10.0.0.5"])


def test_refused_addresses_are_dropped_and_none_left_is_a_run_fatal_error() -> None:
    policy = OutboundPolicy.parse("")
    assert policy.check("mixed.example", 443, ["10.0.0.5", "8.8.8.8"]) == ["8.8.8.8"]
    with pytest.raises(OutboundRefused) as raised:
        policy.check("internal.example", 443, ["10.0.0.5", "10.0.0.6"])
    error = raised.value
    assert error.message == (
        "refused to connect to 10.0.0.5 (internal.example:443): a private address; the "
        "outbound policy allows only public addresses unless RELEVAL_PROVIDER_ALLOW names it "
        "(docs/security.md)"
    )
    assert (error.host, error.address) == ("internal.example", "10.0.0.5")
    assert error.is_fatal_for_run
    with pytest.raises(OutboundRefused, match=r"^refused to connect to 127\.0\.0\.2:8080: a loo"):
        policy.check("127.0.0.2", 8080, ["127.0.0.2"])
    with pytest.raises(OutboundRefused, match=r"^refused to connect to \[::1\]:8080: a loo"):
        policy.check("::1", 8080, ["::1"])
    with pytest.raises(OutboundRefused, match=r"^refused to connect to ::1 \(localhost:80\): "):
        policy.check("localhost", 80, ["::1", "127.0.0.1"])
