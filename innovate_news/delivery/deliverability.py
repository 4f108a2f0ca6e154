"""`check --deliverability`: what a mailbox provider will make of the sending domain's DNS.

SPF, DKIM, DMARC and alignment, the unsubscribe link's host, and which of Gmail's and Yahoo's
2024 sender rules apply at the list's size. Every answer, a failed lookup included, is a
Finding; nothing here raises for what DNS says.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from innovate_news.delivery import dmarc, spf, spfcheck
from innovate_news.delivery.domain import NAMES, SENDERS, Finding, Sender, Verdicts, sender
from innovate_news.delivery.resolver import Resolver
from innovate_news.errors import SettingsError
from innovate_news.settings import Settings

BULK_DAILY = 5000  # Gmail: "close to 5,000 messages or more" a day to personal accounts


def resolver(settings: Settings) -> Resolver:
    """The resolver settings ask for: [deliverability] dns_server, else the system's."""
    table = settings["deliverability"]
    return Resolver(table.get("dns_server"), float(table["dns_timeout"]))


def check(
    settings: Settings,
    provider: str,
    list_size: int | None,
    size_note: str | None = None,
    lookups: spf.Lookups | None = None,
) -> list[Finding]:
    """Every finding for sending through `provider` to `list_size` people (None: unknown)."""
    if provider not in (*SENDERS, "smtp", "outbox"):
        raise SettingsError(f"unknown provider {provider!r} for the deliverability check")
    lookups = lookups or resolver(settings)
    who = sender(settings, provider)
    verdicts = Verdicts()
    findings = _spf(lookups, who, settings, verdicts)
    findings += _dkim(lookups, who, verdicts)
    findings += _dmarc(lookups, who, verdicts)
    findings += _unsubscribe(lookups, settings, verdicts)
    return findings + bulk_rules(list_size, size_note, verdicts)


def _spf(
    lookups: spf.Lookups, who: Sender, settings: Settings, verdicts: Verdicts
) -> list[Finding]:
    findings, verdicts.spf = spfcheck.findings(lookups, who, settings.provider("smtp")["host"])
    return findings


def _dkim(lookups: spf.Lookups, who: Sender, verdicts: Verdicts) -> list[Finding]:
    if who.dkim_selector is None or who.dkim_domain is None:
        return [Finding("warning" if who.provider != "outbox" else "note", "DKIM", _unsigned(who))]
    name = f"{who.dkim_selector}._domainkey.{who.dkim_domain}"
    answer = lookups.txt(name)
    verdicts.dkim = "fail"
    if answer.failure is not None:
        return [Finding("error", "DKIM", f"the TXT lookup of {name} failed: {answer.failure}")]
    keys = [dmarc.tags_of(r) for r in answer.records if "p" in dmarc.tags_of(r)]
    if not keys:
        return [
            Finding(
                "error", "DKIM",
                f"no DKIM key at {name}: receivers cannot check the signature; publish "
                f"v=DKIM1; k=rsa; p=<public key> there",
            )
        ]  # fmt: skip
    published = "".join(keys[0]["p"].split())
    if not published:
        return [Finding("error", "DKIM", f"the key at {name} is revoked (empty p=)")]
    if who.key_file is not None:
        from innovate_news.delivery import dkim

        if problem := dkim.public_key_problem(who.key_file, published):
            return [Finding("error", "DKIM", f"the DKIM record at {name}: {problem}")]
        verdicts.dkim = "pass"
        return [Finding("ok", "DKIM", f"the key at {name} matches {who.key_file.name}")]
    verdicts.dkim = "pass"
    holder = NAMES.get(who.provider, "the relay")
    return [Finding("ok", "DKIM", f"{name} publishes a key ({holder} holds the private key)")]


def _unsigned(who: Sender) -> str:
    if who.provider == "outbox":
        return "the outbox provider sends nothing, so nothing is signed"
    if who.provider == "smtp":
        return (
            "innovate-news does not sign (no [providers.smtp] dkim_selector, dkim_domain, "
            f"dkim_key_file); unless the relay signs for {who.from_domain}, receivers see no "
            "DKIM for it. If it does, set [deliverability] dkim_selector to check its key"
        )
    return (
        f"{NAMES[who.provider]} signs every message, with a key for "
        f"{who.dkim_domain or who.from_domain} only once its DKIM record is published; set "
        "[deliverability] dkim_selector to the selector it gave you to check that record"
    )


def _dmarc(lookups: spf.Lookups, who: Sender, verdicts: Verdicts) -> list[Finding]:
    found = dmarc.lookup(lookups, who.from_domain)
    findings = []
    if found.policy is None:
        verdicts.dmarc = "fail"
        advice = "" if found.failure else f": publish v=DMARC1; p=none at _dmarc.{who.from_domain}"
        findings.append(Finding("error", "DMARC", f"{found.problem}{advice}"))
    else:
        verdicts.dmarc = "pass"
        findings.append(Finding("ok", "DMARC", _policy_words(found.policy)))
    adkim = found.policy.adkim if found.policy else "r"
    aspf = found.policy.aspf if found.policy else "r"
    return [*findings, _alignment(who, verdicts, adkim, aspf)]


def _policy_words(policy: dmarc.Policy) -> str:
    effect = {
        "none": "receivers report failures but still deliver them (enough for Gmail's and "
        "Yahoo's rules; move to quarantine once the reports show all your mail passes)",
        "quarantine": "receivers put failing mail in spam",
        "reject": "receivers refuse failing mail",
    }[policy.policy]
    share = f", for {policy.percent}% of failing mail" if policy.percent < 100 else ""
    return f"{policy.name}: p={policy.policy}: {effect}{share}"


def _alignment(who: Sender, verdicts: Verdicts, adkim: str, aspf: str) -> Finding:
    mode = {"r": "relaxed", "s": "strict"}
    spf_aligned = dmarc.aligned(who.bounce_domain, who.from_domain, aspf)
    dkim_aligned = who.dkim_domain is not None and dmarc.aligned(
        who.dkim_domain, who.from_domain, adkim
    )
    words = (
        f"From {who.from_domain}: SPF domain {who.bounce_domain} "
        f"{'aligned' if spf_aligned else 'not aligned'} ({mode[aspf]}), DKIM "
        + (
            f"d={who.dkim_domain} {'aligned' if dkim_aligned else 'not aligned'} ({mode[adkim]})"
            if who.dkim_domain
            else "domain unknown"
        )
    )
    passes = [v for a, v in ((spf_aligned, verdicts.spf), (dkim_aligned, verdicts.dkim)) if a]
    if "pass" in passes:
        verdicts.alignment = "pass"
        return Finding("ok", "alignment", words)
    if "unknown" in passes or (who.dkim_domain is None and who.provider != "outbox"):
        return Finding("warning", "alignment", words + "; cannot confirm DMARC passes")
    verdicts.alignment = "fail"
    return Finding("error", "alignment", words + "; DMARC fails for every message")


def _unsubscribe(lookups: spf.Lookups, settings: Settings, verdicts: Verdicts) -> list[Finding]:
    url = str(settings.email["unsubscribe_url"])
    parts = urlsplit(url)
    host = parts.hostname or ""
    findings = []
    if parts.scheme != "https":
        verdicts.unsubscribe = "fail"
        findings.append(
            Finding(
                "warning", "unsubscribe",
                f"[email] unsubscribe_url {url} is not https: one-click unsubscribe (RFC 8058) "
                "needs https, so Gmail and Yahoo do not offer it",
            )
        )  # fmt: skip
    try:
        ipaddress.ip_address(host)
        return [*findings, Finding("ok", "unsubscribe", f"{host} is an address")]
    except ValueError:
        pass
    answer = lookups.addresses(host)
    if answer.failure is not None or not answer.records:
        verdicts.unsubscribe = "fail"
        why = answer.failure or "it has no A or AAAA record"
        findings.append(
            Finding(
                "error", "unsubscribe",
                f"the unsubscribe host {host} does not resolve ({why}): every one-click "
                "unsubscribe fails, and receivers count that against you",
            )
        )  # fmt: skip
        return findings
    if verdicts.unsubscribe == "unknown":
        verdicts.unsubscribe = "pass"
    listed = ", ".join(answer.records[:3])
    return [
        *findings,
        Finding("ok", "unsubscribe", f"the unsubscribe host {host} resolves ({listed})"),
    ]


def bulk_rules(list_size: int | None, size_note: str | None, verdicts: Verdicts) -> list[Finding]:
    """Which of Gmail's and Yahoo's 2024 sender rules apply at this size, and whether they hold."""
    level = {"pass": "ok", "unknown": "warning", "fail": "error"}
    if list_size is not None and list_size < BULK_DAILY:
        either = (
            "pass"
            if "pass" in (verdicts.spf, verdicts.dkim)
            else ("unknown" if "unknown" in (verdicts.spf, verdicts.dkim) else "fail")
        )
        return [
            Finding(
                level[either], "Gmail/Yahoo",
                f"{list_size:,} eligible subscribers, under {BULK_DAILY:,} a day: every sender "
                f"needs SPF or DKIM to pass (SPF {verdicts.spf}, DKIM {verdicts.dkim}); the "
                "bulk-sender rules start at 5,000",
            )
        ]  # fmt: skip
    if list_size is None:
        size = f"{size_note}; checked as a bulk sender"
    else:
        size = f"{list_size:,} eligible subscribers: a bulk sender"
    both = (
        "pass"
        if verdicts.spf == verdicts.dkim == "pass"
        else ("fail" if "fail" in (verdicts.spf, verdicts.dkim) else "unknown")
    )
    rules = [
        (both, f"SPF and DKIM must both pass (SPF {verdicts.spf}, DKIM {verdicts.dkim})"),
        (verdicts.dmarc, "a DMARC record must exist, p=none at least"),
        (verdicts.alignment, "From must align with the SPF or the DKIM domain"),
        (verdicts.unsubscribe, "one-click unsubscribe (RFC 8058) must work, over https"),
    ]
    return [
        Finding(
            "note", "Gmail/Yahoo",
            f"{size} (5,000 or more a day to Gmail), so Gmail's and Yahoo's bulk-sender rules "
            "apply",
        ),
        *(Finding(level[v], "Gmail/Yahoo bulk", f"{words}: {v}") for v, words in rules),
        Finding(
            "note", "Gmail/Yahoo bulk",
            "spam complaints cannot be checked from DNS: keep the rate Google Postmaster Tools "
            "shows under 0.3% (aim for under 0.1%)",
        ),
    ]  # fmt: skip
