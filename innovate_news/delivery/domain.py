"""The sending domain as receivers see it: From, bounce and DKIM domains, per provider."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from innovate_news.settings import Settings

NAMES = {"postmark": "Postmark", "mailgun": "Mailgun", "sendgrid": "SendGrid"}
# What the provider's own SPF record is called, to be include:d by the bounce domain's.
SENDERS = {"postmark": "spf.mtasv.net", "mailgun": "mailgun.org", "sendgrid": "sendgrid.net"}
# The bounce (Return-Path) domain each uses until one of yours is set up with it.
OWN_BOUNCE = {"postmark": "pm.mtasv.net", "sendgrid": "sendgrid.net"}


@dataclass(frozen=True)
class Finding:
    """One line of the report: ok, note (nothing to check), warning or error."""

    level: str
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.topic}: {self.message}"


@dataclass(frozen=True)
class Sender:
    """The domains receivers judge a message by, as settings and the provider make them."""

    provider: str
    from_domain: str
    spf_domain: str  # whose SPF record must list the provider's senders
    bounce_domain: str  # the envelope (Return-Path) domain SPF alignment is judged on
    dkim_domain: str | None  # the signing domain d= when it is one of yours
    dkim_selector: str | None
    key_file: Path | None  # the private key innovate-news signs with (smtp)


def sender(settings: Settings, provider: str) -> Sender:
    """Who the mail is from, its bounce domain and its DKIM signature, for `provider`."""
    from_domain = parseaddr(settings.email["from"])[1].rpartition("@")[2].lower().rstrip(".")
    table = settings["deliverability"]
    selector = table.get("dkim_selector")
    # smtp and outbox: the envelope sender is the From address (see providers.smtp)
    spf_domain = envelope = from_domain
    dkim_domain = from_domain if selector else None
    key_file = None
    if provider == "mailgun":  # Mailgun bounces to, and signs for, its sending domain
        spf_domain = envelope = dkim_domain = str(settings.provider("mailgun")["domain"]).lower()
    elif provider in OWN_BOUNCE:
        envelope = OWN_BOUNCE[provider]
    elif provider == "smtp":
        smtp = settings.provider("smtp")
        keys = [smtp.get(k) for k in ("dkim_selector", "dkim_domain", "dkim_key_file")]
        if all(keys):  # innovate-news signs: its key, not the relay's
            selector, dkim_domain = str(keys[0]), str(keys[1]).lower()
            key_file = settings.root / str(keys[2])
    bounce = table.get("return_path_domain")
    return Sender(
        provider, from_domain, bounce or spf_domain, bounce or envelope, dkim_domain, selector,
        key_file,
    )  # fmt: skip


@dataclass
class Verdicts:
    """pass, fail or unknown for each rule, for the bulk-sender summary."""

    spf: str = "unknown"
    dkim: str = "unknown"
    dmarc: str = "unknown"
    alignment: str = "unknown"
    unsubscribe: str = "unknown"
