"""DMARC (RFC 7489) as a receiver reads it: the From domain's policy and identifier alignment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from innovate_news.delivery.spf import Lookups

POLICIES = ("none", "quarantine", "reject")

# Second-level labels under which a country code's registrations sit (example.co.uk). Without
# the Public Suffix List this is the usual approximation of an organisational domain.
_SECOND_LEVEL = {"ac", "co", "com", "edu", "gov", "net", "org", "ltd", "plc", "nhs", "sch"}


def organisational(domain: str) -> str:
    """The registered domain that `domain` belongs to: news.example.org → example.org."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """Whether an authenticated domain aligns with From: the same name in strict mode ("s"),
    the same organisational domain in relaxed mode ("r")."""
    if mode == "s":
        return domain.lower() == from_domain.lower()
    return organisational(domain) == organisational(from_domain)


@dataclass(frozen=True)
class Policy:
    """One domain's DMARC record: where it was found, and the tags that decide delivery."""

    name: str  # _dmarc.<domain> it was found at
    text: str
    policy: str  # what applies to the From domain (sp= when inherited from the organisation)
    adkim: str
    aspf: str
    percent: int


@dataclass(frozen=True)
class Found:
    """The DMARC record for a From domain, or what is wrong (`failure`: no answer from DNS)."""

    policy: Policy | None
    problem: str | None = None
    failure: bool = False


def lookup(lookups: Lookups, from_domain: str) -> Found:
    """The From domain's record, else its organisational domain's (RFC 7489 6.6.3)."""
    names = [from_domain]
    if (org := organisational(from_domain)) != from_domain:
        names.append(org)
    for domain in names:
        name = f"_dmarc.{domain}"
        answer = lookups.txt(name)
        if answer.failure is not None:
            return Found(None, f"the TXT lookup of {name} failed: {answer.failure}", True)
        records = [r for r in answer.records if re.match(r"\s*v\s*=\s*DMARC1\s*(;|$)", r)]
        if len(records) > 1:
            return Found(None, f"{name} has {len(records)} DMARC records; receivers ignore all")
        if records:
            return _parse(name, records[0], inherited=domain != from_domain)
    return Found(None, f"_dmarc.{from_domain} has no DMARC record")


def _parse(name: str, text: str, inherited: bool) -> Found:
    tags = tags_of(text)
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        return Found(
            None, f"{name}: p= must be none, quarantine or reject; receivers ignore the record"
        )
    if inherited and tags.get("sp", "").lower() in POLICIES:
        policy = tags["sp"].lower()
    percent = tags.get("pct", "100")
    return Found(
        Policy(
            name,
            text,
            policy,
            "s" if tags.get("adkim", "r").lower() == "s" else "r",
            "s" if tags.get("aspf", "r").lower() == "s" else "r",
            int(percent) if percent.isdigit() else 100,
        )
    )


def tags_of(text: str) -> dict[str, str]:
    """`tag=value` pairs of a DMARC or DKIM record, names lower-cased, values stripped."""
    tags = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags[name.strip().lower()] = value.strip()
    return tags
