"""The SPF findings of `check --deliverability`: the bounce domain's record, and whether it
lets the chosen provider (or SMTP relay) send."""

from __future__ import annotations

import ipaddress

from innovate_news.delivery import dmarc, spf
from innovate_news.delivery.domain import NAMES, SENDERS, Finding, Sender


def findings(lookups: spf.Lookups, who: Sender, relay: str) -> tuple[list[Finding], str]:
    """The findings about SPF, and its verdict for the bulk rules: pass, fail or unknown."""
    tree = spf.walk(lookups, who.spf_domain)
    domain = who.spf_domain
    if tree.record is None:
        if tree.failures:
            return [Finding("error", "SPF", failure) for failure in tree.failures], "fail"
        advice = f"v=spf1 include:{SENDERS[who.provider]} ~all" if who.provider in SENDERS else ""
        words = f": publish a TXT record like {advice}" if advice else ""
        return [
            Finding(
                "error", "SPF",
                f"{tree.problems[0]}: receivers cannot tell who may send for it{words}",
            )
        ], "fail"  # fmt: skip
    out = [Finding("ok", "SPF", f"{domain} publishes {tree.record.text!r}")]
    out += [Finding("error", "SPF", problem) for problem in tree.problems]
    out += [Finding("error", "SPF", failure) for failure in tree.failures]
    out += _ending(domain, tree.record)
    found, verdict = _senders(lookups, who, tree, relay)
    out.append(found)
    if any(f.level == "error" for f in out):
        verdict = "fail"
    return out, verdict


def _ending(domain: str, record: spf.Record) -> list[Finding]:
    """What the record says about everyone else: -all or ~all is what receivers expect."""
    if record.all == "+":
        return [Finding("error", "SPF", f"+all in {domain}'s record lets anyone send as it")]
    if record.redirect is None and record.all in (None, "?"):
        return [
            Finding(
                "warning", "SPF",
                f"{domain}'s record ends without -all or ~all: mail from anywhere else is "
                "neutral, not failed",
            )
        ]  # fmt: skip
    return []


def _senders(lookups: spf.Lookups, who: Sender, tree: spf.Tree, relay: str) -> tuple[Finding, str]:
    domain = who.spf_domain
    if who.provider == "smtp":
        return _relay(lookups, domain, relay)
    if who.provider not in SENDERS:
        return Finding(
            "note", "SPF",
            "the outbox provider sends nothing; pass --provider to check that a provider's "
            "senders are in the record",
        ), "unknown"  # fmt: skip
    include, name = SENDERS[who.provider], NAMES[who.provider]
    own = dmarc.organisational(include)
    if include in tree.includes:
        return Finding("ok", "SPF", f"{domain} includes {include} ({name}'s senders)"), "pass"
    if any(c == own or c.endswith("." + own) for c in tree.canonicals):
        return Finding("ok", "SPF", f"{domain} is {name}'s own record (a CNAME to {own})"), "pass"
    return Finding(
        "error", "SPF",
        f"{domain}'s SPF does not include {include}: {name}'s servers fail SPF for it; add "
        f"include:{include} before the all",
    ), "fail"  # fmt: skip


def _relay(lookups: spf.Lookups, domain: str, host: str) -> tuple[Finding, str]:
    """SPF's result for each address of the SMTP relay: where it sends from, as far as DNS
    can tell (a relay may hand mail on from other addresses; its documentation says)."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        answer = lookups.addresses(host)
        if answer.failure is not None or not answer.records:
            why = answer.failure or "no A or AAAA record"
            return Finding(
                "warning", "SPF", f"the relay {host} does not resolve ({why}): cannot check it"
            ), "unknown"
        addresses = list(answer.records)
    if host == "localhost" or any(ipaddress.ip_address(a).is_loopback for a in addresses):
        return Finding(
            "note", "SPF",
            f"the relay {host} is on this machine: the addresses it hands mail on from decide "
            "SPF; check that they are in the record",
        ), "unknown"  # fmt: skip
    results = {a: spf.check_host(lookups, a, domain) for a in addresses}
    bad = {a: r for a, r in results.items() if r != "pass"}
    if not bad:
        listed = ", ".join(addresses)
        return Finding("ok", "SPF", f"{domain}'s SPF passes the relay {host} ({listed})"), "pass"
    address, result = next(iter(bad.items()))
    return Finding(
        "warning", "SPF",
        f"{domain}'s SPF gives {result} for the relay {host} ({address}): if the relay sends "
        f"from there, add ip4:/ip6:{address} or its include:; a relay that sends from other "
        "addresses says in its documentation what to include",
    ), "unknown"  # fmt: skip
