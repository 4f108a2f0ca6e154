"""delivery.spf: a record's result for one address and its lookup count, asked of a real DNS
server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from innovate_news.delivery import spf
from innovate_news.delivery.resolver import Resolver
from tests.support.dnsserver import Zone, serving


@pytest.fixture(scope="module")
def resolver() -> Iterator[Resolver]:
    zone = (
        Zone()
        .txt(
            "example.org",
            "v=spf1 ip4:192.0.2.0/28 a:relay.example.org/30 mx include:inc.example.org ~all",
        )
        .add("relay.example.org", "A", "198.51.100.8")
        .add("example.org", "MX", (10, "mx.example.org"))
        .add("mx.example.org", "A", "203.0.113.5")
        .txt("inc.example.org", "v=spf1 ip6:2001:db8::/32 -all")
        .txt("redirected.example.org", "v=spf1 redirect=example.org")
        .txt("broken.example.org", "v=spf1 include:nothing.example.org -all")
        .txt("neutral.example.org", "v=spf1 ip4:192.0.2.1")
        .txt("badprefix.example.org", "v=spf1 a:relay.example.org/40 -all")
    )  # fmt: skip
    with serving(zone) as address:
        yield Resolver(address, 2)


@pytest.mark.parametrize(
    ("ip", "domain", "result"),
    [
        ("192.0.2.7", "example.org", "pass"),  # ip4 with a prefix
        ("198.51.100.11", "example.org", "pass"),  # a:host/30
        ("198.51.100.12", "example.org", "softfail"),  # just outside it
        ("203.0.113.5", "example.org", "pass"),  # mx
        ("2001:db8::25", "example.org", "pass"),  # ip6 inside an include
        ("192.0.2.7", "redirected.example.org", "pass"),
        ("198.51.100.200", "redirected.example.org", "softfail"),
        ("192.0.2.7", "broken.example.org", "permerror"),  # an include with no record
        ("192.0.2.9", "neutral.example.org", "neutral"),  # no all: nothing matched
        ("192.0.2.7", "none.example.org", "none"),
        ("198.51.100.8", "badprefix.example.org", "permerror"),  # /40 of an IPv4 address
    ],
)
def test_check_host(resolver: Resolver, ip: str, domain: str, result: str) -> None:
    assert spf.check_host(resolver, ip, domain) == result


def test_walk_counts_each_lookup_and_lists_includes(resolver: Resolver) -> None:
    tree = spf.walk(resolver, "redirected.example.org")
    assert tree.lookups == 4  # redirect=, a, mx, include
    assert tree.includes == ["example.org", "inc.example.org"]
    assert tree.problems == []
    broken = spf.walk(resolver, "broken.example.org")
    assert broken.problems == [
        "nothing.example.org, included by broken.example.org: nothing.example.org has no SPF "
        "record, so receivers stop with permerror"
    ]
