"""Address decisions: every encoding of a forbidden destination is refused, at decision level.

No test here opens a socket: names are resolved by injected fake resolvers (except
``localhost``, which RFC 6761 makes loopback without any lookup).
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from spiders.addresses import (
    AddressError,
    Resolver,
    classify,
    decide_address,
    decide_url,
    has_userinfo,
    parse_host,
    parse_ipv4_like,
)


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"no DNS lookup expected, asked for {host}")


# -- every way of writing loopback -------------------------------------------------------------

LOOPBACK_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/x",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0X7F000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://127.42.1.9/",
    "http://[::1]/",
    "http://[::1]:8080/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://localhost/",
    "http://LOCALHOST:8000/",
    "http://localhost./",
    "http://anything.localhost/",
    "http://public.example@127.0.0.1/",
    "http://user:pw@127.0.0.1/",
    "http://１２７.０.０.１/",  # fullwidth digits: IDNA folds them to ASCII
]


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_loopback_encodings_are_refused_under_public(url: str) -> None:
    decision = decide_url(url, "public", resolver=no_dns)
    assert not decision.allowed
    assert decision.reason.startswith("address: ")
    assert "loopback" in decision.reason


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_loopback_encodings_are_allowed_under_loopback(url: str) -> None:
    assert decide_url(url, "loopback", resolver=no_dns).allowed


# -- everything else that is not public --------------------------------------------------------

REFUSED = [
    # (address, category in the reason)
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "reserved"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("198.18.0.1", "reserved"),
    ("2001:db8::1", "reserved"),
    # IPv6 embeddings of forbidden IPv4 addresses
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:0:a00:1", "private"),            # IPv4-translated 10.0.0.1
    ("2002:a00:1::", "private"),              # 6to4 of 10.0.0.1
    ("2002:a9fe:a9fe::1", "metadata"),        # 6to4 of 169.254.169.254
    ("64:ff9b::a00:5", "private"),            # NAT64 of 10.0.0.5
    ("64:ff9b::a9fe:a9fe", "metadata"),       # NAT64 of 169.254.169.254
    ("64:ff9b:1::7f00:1", "loopback"),        # local-use NAT64 of 127.0.0.1
    ("::a00:1", "private"),                   # IPv4-compatible 10.0.0.1
]


@pytest.mark.parametrize("profile", ["public", "loopback"])
@pytest.mark.parametrize(("address", "category"), REFUSED)
def test_non_public_addresses_are_refused_under_every_profile(address: str, category: str,
                                                              profile: str) -> None:
    decision = decide_address(address, profile)
    assert not decision.allowed
    assert decision.reason.startswith("address: ")
    assert f"is {category}" in decision.reason


@pytest.mark.parametrize(("url", "category"), [
    ("http://10.0.0.5/", "private"),
    ("http://167772165/", "private"),                 # 10.0.0.5 as one number
    ("http://0xa000005/", "private"),
    ("http://012.0.0.5/", "private"),                 # octal 10
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://2852039166/", "metadata"),                # 169.254.169.254 as one number
    ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://[fe80::1%25eth0]/", "link-local"),       # zone id
    ("http://[fe80::1%eth0]/", "link-local"),
    ("http://[fc00::1]:8443/", "private"),
    ("http://public.example@10.0.0.1/", "private"),
    ("http://192.168.0.1.:80/", "private"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
])
@pytest.mark.parametrize("profile", ["public", "loopback"])
def test_forbidden_urls_refused_under_every_profile(url: str, category: str, profile: str) -> None:
    decision = decide_url(url, profile, resolver=no_dns)
    assert not decision.allowed
    assert f"is {category}" in decision.reason


@pytest.mark.parametrize(("address", "public", "loopback"), [
    ("93.184.215.14", True, False),
    ("2606:4700::1111", True, False),
    ("::ffff:93.184.215.14", True, False),
    ("2002:5db8:d70e::1", True, False),   # 6to4 of a public address
    ("127.0.0.1", False, True),
    ("127.255.255.254", False, True),
    ("::1", False, True),
    ("::ffff:127.0.0.1", False, True),
    ("2002:7f00:1::", False, False),      # 6to4 of loopback goes to a relay, never to us
    ("64:ff9b::7f00:1", False, False),    # NAT64 of loopback: a gateway, not loopback
    ("::7f00:1", False, False),           # IPv4-compatible loopback
])
def test_profiles(address: str, public: bool, loopback: bool) -> None:
    assert decide_address(address, "public").allowed is public
    assert decide_address(address, "loopback").allowed is loopback


def test_loopback_profile_names_public_addresses_as_not_loopback() -> None:
    assert decide_address("93.184.215.14", "loopback").reason == \
        "address: 93.184.215.14 is not loopback (network profile loopback)"


def test_unknown_profile_refuses_everything() -> None:
    assert not decide_address("93.184.215.14", "anything").allowed


def test_reason_format_matches_the_contract() -> None:
    assert decide_address("10.0.0.1", "public").reason == "address: 10.0.0.1 is private"
    assert decide_address("::ffff:10.0.0.1", "public").reason == \
        "address: ::ffff:a00:1 is private (IPv4-mapped 10.0.0.1)"


# -- parsing matches the OS ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1",
                                  "127.0.1", "017700000001", "0", "10.1", "1.2.3.4", "0xff.0xff.0xff.0xff"])
def test_ipv4_parsing_agrees_with_inet_aton(text: str) -> None:
    parsed = parse_ipv4_like(text)
    assert parsed is not None
    assert parsed.packed == socket.inet_aton(text)


@pytest.mark.parametrize("text", ["example.com", "a.b.example", "xn--nxasmq6b.example", "1.2.3.example"])
def test_names_are_not_addresses(text: str) -> None:
    assert parse_ipv4_like(text) is None


@pytest.mark.parametrize("text", ["256.0.0.1", "1.2.3.4.5", "0x100.0.0.1", "08.0.0.1", "1.2.3.0x",
                                  "4294967296", "1.2.65536"])
def test_malformed_numeric_hosts_are_errors(text: str) -> None:
    with pytest.raises(AddressError):
        parse_ipv4_like(text)


@pytest.mark.parametrize(("url", "reason_start"), [
    ("ftp://example.com/", "scheme: ftp"),
    ("file:///etc/passwd", "scheme: file"),
    ("gopher://127.0.0.1/", "scheme: gopher"),
    ("javascript:alert(1)", "scheme: javascript"),
    ("data:text/html,x", "scheme: data"),
    ("http://256.1.1.1/", "address: malformed"),
    ("http://exa%6dple.com/", "address: percent-encoded"),
    ("http://127.0.0.1\\@example.com/", "address: backslash"),
    ("http://example.com\\@127.0.0.1/", "address: backslash"),
    ("http://exa mple.com/", "address: control"),
    ("http://example.com\t/", "address: control"),
    ("http://[::1/", "address: malformed"),
    ("http://[zz::1]/", "address: malformed"),
    ("http://example.com:99999/", "address: malformed port"),
    ("http://example.com:8o/", "address: malformed port"),
    ("http:///path", "address: empty host"),
])
def test_ambiguous_urls_are_refused(url: str, reason_start: str) -> None:
    decision = decide_url(url, "public", resolver=no_dns)
    assert not decision.allowed
    assert decision.reason.startswith(reason_start), decision.reason


def test_parse_host_details() -> None:
    host = parse_host("HTTPS://User:Pw@WWW.Example.COM.:8443/a?b#c")
    assert (host.scheme, host.name, host.port, host.ip) == ("https", "www.example.com", 8443, None)
    assert parse_host("http://[::ffff:127.0.0.1]/").ip == ipaddress.ip_address("::ffff:127.0.0.1")
    assert parse_host("http://0x7f000001/").name == "127.0.0.1"
    assert parse_host("https://example.com/").port == 443


@pytest.mark.parametrize(("url", "expected"), [
    ("http://a@example.com/", True), ("http://a:b@example.com/", True), ("http://:@example.com/", True),
    ("http://example.com/@x", False), ("http://example.com/?u=a@b", False),
])
def test_userinfo_detection(url: str, expected: bool) -> None:
    assert has_userinfo(url) is expected


# -- resolution ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("answers", "allowed", "reason_part"), [
    (["93.184.215.14"], True, ""),
    (["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], True, ""),
    (["93.184.215.14", "10.0.0.7"], False, "10.0.0.7 is private"),        # ANY refused address
    (["2606:4700::1", "fd00:ec2::254"], False, "is metadata"),
    (["169.254.169.254"], False, "is metadata (resolved from"),
    (["127.0.0.1"], False, "is loopback"),                                # DNS rebinding to loopback
    ([], False, "dns: "),
])
def test_names_are_refused_if_any_resolved_address_is(answers: list[str], allowed: bool,
                                                       reason_part: str) -> None:
    decision = decide_url("http://site.example/", "public", resolver=lambda h, p: answers)
    assert decision.allowed is allowed
    assert reason_part in decision.reason


def test_resolution_failure_is_a_refusal() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(-2, "Name or service not known")

    decision = decide_url("http://nowhere.example/", "public", resolver=fail)
    assert not decision.allowed and decision.reason.startswith("dns: nowhere.example")


def test_metadata_names_refused_without_lookup() -> None:
    decision = decide_url("http://metadata.google.internal/computeMetadata/v1/", "public", resolver=no_dns)
    assert decision.reason == "address: metadata.google.internal is metadata"


def test_resolver_caches_and_expires() -> None:
    calls: list[str] = []

    def fake(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.215.14"]

    resolver = Resolver(fake, ttl=60, size=2)
    assert resolver("a.example", 80) == ("93.184.215.14",)
    assert resolver("a.example", 80) == ("93.184.215.14",)
    assert calls == ["a.example"]
    resolver("b.example", 80)
    resolver("c.example", 80)  # evicts a.example (size 2)
    resolver("a.example", 80)
    assert calls == ["a.example", "b.example", "c.example", "a.example"]
    expired = Resolver(fake, ttl=0)
    expired("d.example", 80)
    expired("d.example", 80)
    assert calls[-2:] == ["d.example", "d.example"]


def test_resolver_does_not_cache_failures() -> None:
    attempts: list[int] = []

    def flaky(host: str, port: int) -> list[str]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("temporary failure")
        return ["93.184.215.14"]

    resolver = Resolver(flaky)
    with pytest.raises(OSError):
        resolver("x.example", 80)
    assert resolver("x.example", 80) == ("93.184.215.14",)


def test_classify_reports_embedding() -> None:
    c = classify("64:ff9b::a9fe:a9fe")
    assert (c.category, c.via, str(c.embedded)) == ("metadata", "NAT64", "169.254.169.254")
    assert classify("fe80::1%eth0").category == "link-local"


def test_loopback_profile_resolves_no_names() -> None:
    decision = decide_url("http://site.example/", "loopback", resolver=no_dns)
    assert decision.reason == "address: site.example is not a loopback address (network profile loopback resolves no names)"
    assert decide_url("http://localhost:8000/", "loopback", resolver=no_dns).allowed
