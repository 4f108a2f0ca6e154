"""SPF (RFC 7208) as a receiver reads it: one domain's record, what it includes, how many DNS
lookups that costs, and the result for one sending address."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from innovate_news.delivery.resolver import Answer

MAX_LOOKUPS = 10  # RFC 7208 4.6.4: more and receivers stop with permerror
_FOLLOW_AT_MOST = 40  # included domains followed in one walk, whatever the records say
_LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists"}  # and the redirect= modifier
_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_CIDR = re.compile(r"([^/]*)(?:/(\d{1,3}))?(?://(\d{1,3}))?")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Lookups(Protocol):
    """The DNS questions SPF asks (delivery.resolver.Resolver answers them)."""

    def txt(self, name: str) -> Answer: ...
    def addresses(self, name: str) -> Answer: ...
    def mx(self, name: str) -> Answer: ...


@dataclass(frozen=True)
class Term:
    """One mechanism: its qualifier (+ - ~ ?), name (all, include, ip4, …) and argument."""

    qualifier: str
    name: str
    value: str


@dataclass(frozen=True)
class Record:
    text: str
    terms: tuple[Term, ...]
    redirect: str | None

    @property
    def all(self) -> str | None:
        """The qualifier of the record's `all`, None when it has none."""
        return next((t.qualifier for t in reversed(self.terms) if t.name == "all"), None)


def parse(text: str) -> Record:
    """The mechanisms of a `v=spf1` record; modifiers other than redirect= are left out."""
    terms, redirect = [], None
    for word in text.split()[1:]:
        head = word.split(":", 1)[0]
        if "=" in head:
            if head.lower().startswith("redirect="):
                redirect = word.split("=", 1)[1].lower().rstrip(".")
            continue
        qualifier = "+"
        if word[0] in _RESULTS:
            qualifier, word = word[0], word[1:]
        name, colon, value = word.partition(":")
        if not colon and "/" in name:  # `a/24`, `mx/24//64`
            name, _, rest = name.partition("/")
            value = "/" + rest
        terms.append(Term(qualifier, name.lower(), value))
    return Record(text, tuple(terms), redirect)


@dataclass(frozen=True)
class Fetched:
    """A domain's SPF record, or what is wrong (`failure`: the lookup itself failed)."""

    record: Record | None
    problem: str | None = None
    failure: bool = False
    canonical: str = ""


def fetch(lookups: Lookups, domain: str) -> Fetched:
    answer = lookups.txt(domain)
    if answer.failure is not None:
        return Fetched(None, f"the TXT lookup of {domain} failed: {answer.failure}", True)
    found = [r for r in answer.records if re.match(r"v=spf1( |$)", r, re.IGNORECASE)]
    if not found:
        return Fetched(None, f"{domain} has no SPF record", canonical=answer.canonical)
    if len(found) > 1:
        return Fetched(
            None,
            f"{domain} has {len(found)} SPF records; receivers treat more than one as an "
            "error (permerror): merge them into one",
        )
    return Fetched(parse(found[0]), canonical=answer.canonical)


@dataclass
class Tree:
    """Everything a domain's SPF record reaches through include: and redirect=."""

    domain: str
    record: Record | None = None
    lookups: int = 0
    includes: list[str] = field(default_factory=list)
    canonicals: list[str] = field(default_factory=list)  # where each record was found
    problems: list[str] = field(default_factory=list)  # what makes receivers fail it
    failures: list[str] = field(default_factory=list)  # lookups that got no answer


def walk(lookups: Lookups, domain: str) -> Tree:
    """Follow the whole record, counting its DNS lookups as RFC 7208 4.6.4 does."""
    tree = Tree(domain)
    fetched = fetch(lookups, domain)
    tree.canonicals.append(fetched.canonical)
    if fetched.record is None:
        (tree.failures if fetched.failure else tree.problems).append(fetched.problem or "")
        return tree
    tree.record = fetched.record
    _follow(lookups, tree, fetched.record, [domain])
    if tree.lookups > MAX_LOOKUPS:
        tree.problems.append(
            f"the SPF record of {domain} needs more than {MAX_LOOKUPS} DNS lookups "
            f"({tree.lookups} counted), so receivers stop with permerror (RFC 7208 4.6.4): "
            "flatten some include: into ip4:/ip6:"
        )
    return tree


def _follow(lookups: Lookups, tree: Tree, record: Record, chain: list[str]) -> None:
    targets = []
    for term in record.terms:
        if term.name in _LOOKUP_TERMS:
            tree.lookups += 1
            if term.name == "include":
                targets.append(term.value.lower().rstrip("."))
    if record.redirect:
        tree.lookups += 1
        targets.append(record.redirect)
    for target in targets:
        if target in chain:
            loop = " → ".join([*chain, target])
            tree.problems.append(f"SPF include loop ({loop}): receivers stop with permerror")
        elif "%" not in target and tree.lookups <= MAX_LOOKUPS:  # macros depend on the mail
            _include(lookups, tree, target, chain)


def _include(lookups: Lookups, tree: Tree, target: str, chain: list[str]) -> None:
    tree.includes.append(target)
    if len(tree.includes) > _FOLLOW_AT_MOST:
        return
    fetched = fetch(lookups, target)
    if fetched.record is None:
        if fetched.failure:
            tree.failures.append(fetched.problem or "")
        else:
            tree.problems.append(
                f"{target}, included by {chain[-1]}: {fetched.problem}, so receivers stop with "
                "permerror"
            )
        return
    tree.canonicals.append(fetched.canonical)
    _follow(lookups, tree, fetched.record, [*chain, target])


def check_host(lookups: Lookups, ip: str, domain: str) -> str:
    """The SPF result for mail from `ip` with an envelope at `domain`: pass, fail, softfail,
    neutral, none, permerror or temperror. ptr, exists and macros never match here."""
    return _check(lookups, ipaddress.ip_address(ip), domain, [0], [])


def _check(lookups: Lookups, ip: IpAddress, domain: str, spent: list[int], chain: list[str]) -> str:
    if domain in chain:
        return "permerror"
    fetched = fetch(lookups, domain)
    if fetched.record is None:
        return "temperror" if fetched.failure else ("permerror" if chain else "none")
    record, inner = fetched.record, [*chain, domain]
    for term in record.terms:
        if term.name in _LOOKUP_TERMS:
            spent[0] += 1
            if spent[0] > MAX_LOOKUPS:
                return "permerror"
        matched = _match(lookups, ip, domain, term, spent, inner)
        if isinstance(matched, str):
            return matched
        if matched:
            return _RESULTS[term.qualifier]
    if record.redirect:
        spent[0] += 1
        result = _check(lookups, ip, record.redirect, spent, inner)
        return "permerror" if result == "none" else result
    return "neutral"


def _match(
    lookups: Lookups, ip: IpAddress, domain: str, term: Term, spent: list[int], chain: list[str]
) -> bool | str:
    """Whether `term` matches `ip`; a string is an error result that ends the evaluation."""
    if term.name == "all":
        return True
    if term.name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(term.value, strict=False)
        except ValueError:
            return "permerror"
    if term.name == "include":
        result = _check(lookups, ip, term.value.lower().rstrip("."), spent, chain)
        if result in ("permerror", "temperror", "none"):
            return "permerror" if result == "none" else result
        return result == "pass"  # an include's fail or neutral only means: no match here
    if term.name in ("a", "mx"):
        return _match_hosts(lookups, ip, domain, term)
    return False


def _match_hosts(lookups: Lookups, ip: IpAddress, domain: str, term: Term) -> bool | str:
    found = _CIDR.fullmatch(term.value)
    if found is None:
        return "permerror"
    host = found.group(1) or domain
    prefix = found.group(2) if ip.version == 4 else found.group(3)
    hosts = [host]
    if term.name == "mx":
        answer = lookups.mx(host)
        if answer.failure is not None:
            return "temperror"
        hosts = list(answer.records[:10])
    for name in hosts:
        answer = lookups.addresses(name)
        if answer.failure is not None:
            return "temperror"
        for address in answer.records:
            if ipaddress.ip_address(address).version != ip.version:
                continue
            bits = prefix or ("32" if ip.version == 4 else "128")
            try:
                if ip in ipaddress.ip_network(f"{address}/{bits}", strict=False):
                    return True
            except ValueError:  # a prefix longer than the address
                return "permerror"
    return False
