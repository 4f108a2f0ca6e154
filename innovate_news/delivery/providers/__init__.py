"""Providers: where prepared messages go (outbox, smtp, postmark, mailgun, sendgrid, memory)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from email.utils import parseaddr
from pathlib import Path

from innovate_news.delivery.providers.base import Limits, Provider
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.errors import Problem, SettingsError
from innovate_news.mail import Message, MessageTemplate, Receipt
from innovate_news.settings import Settings

NAMES = ("outbox", "smtp", "postmark", "mailgun", "sendgrid")
KEYS = {
    "postmark": "INNOVATE_NEWS_POSTMARK_TOKEN",
    "mailgun": "INNOVATE_NEWS_MAILGUN_API_KEY",
    "sendgrid": "INNOVATE_NEWS_SENDGRID_API_KEY",
}

__all__ = [
    "NAMES",
    "Limits",
    "MemoryProvider",
    "Message",
    "MessageTemplate",
    "Provider",
    "Receipt",
    "create",
]  # fmt: skip


def create(
    settings: Settings,
    name: str,
    slug: str,
    test: bool = False,
    environ: Mapping[str, str] | None = None,
    transactional: bool = False,
) -> Provider:
    """The provider `name`, configured from settings and the environment, for issue `slug`;
    `transactional` for one-off mail a person asked for (a sign-up's confirmation)."""
    environ = os.environ if environ is None else environ
    if name == "outbox":
        from innovate_news.delivery.providers.outbox import OutboxProvider

        folder = settings.folder("outbox") / slug
        return OutboxProvider(folder / "test" if test else folder)
    if name == "smtp":
        return _smtp(settings, environ)
    if name in KEYS:
        return _api(settings, name, environ, transactional)
    if name == "memory":
        return MemoryProvider(keep=False)
    raise SettingsError(f"unknown provider {name!r}; use one of: {', '.join(NAMES)}")


def _limits(table: Mapping[str, object], **overrides: object) -> Limits:
    values = {
        k: table[k] for k in ("max_attempts", "backoff", "max_wait", "batch_size") if k in table
    }
    return Limits(**{**values, **overrides})  # type: ignore[arg-type]


def _smtp(settings: Settings, environ: Mapping[str, str]) -> Provider:
    from innovate_news.delivery.providers.smtp import SmtpConfig, SmtpProvider

    table = settings.provider("smtp")
    ca_file = Path(table["ca_file"]) if table.get("ca_file") else None
    if ca_file is not None and not ca_file.is_absolute():
        ca_file = settings.root / ca_file
    config = SmtpConfig(
        host=table["host"],
        port=table["port"],
        security=table["security"],
        sender=parseaddr(settings.email["from"])[1],
        username=table.get("username") or None,
        password=environ.get("INNOVATE_NEWS_SMTP_PASSWORD") or None,
        ca_file=ca_file,
        rate=table["rate"],
        max_per_connection=table["max_per_connection"],
        timeout=table["timeout"],
    )
    limits = _limits(table, batch_size=1, concurrency=table["concurrency"])
    return SmtpProvider(config, limits, signer=_signer(settings, table))


def _signer(settings: Settings, table: Mapping[str, object]) -> Callable[[bytes], bytes] | None:
    keys = [table.get(k) for k in ("dkim_selector", "dkim_domain", "dkim_key_file")]
    if not any(keys):
        return None
    if not all(keys):
        raise SettingsError(
            "[providers.smtp] DKIM needs all of dkim_selector, dkim_domain and dkim_key_file",
            settings.path,
        )
    from innovate_news.delivery import dkim

    key_file = Path(str(keys[2]))
    return dkim.load(str(keys[0]), str(keys[1]), settings.root / key_file)


def _api(
    settings: Settings, name: str, environ: Mapping[str, str], transactional: bool = False
) -> Provider:
    from innovate_news.delivery.providers.http import Client

    variable = KEYS[name]
    key = environ.get(variable, "").strip()
    if not key:
        raise SettingsError(f"{name} needs its API key in the environment variable {variable}")
    table = settings.provider(name)
    limits = _limits(table)
    if name == "postmark":
        from innovate_news.delivery.providers.postmark import PostmarkProvider

        client = Client(
            name, table["base_url"], table["timeout"], headers={"X-Postmark-Server-Token": key}
        )
        # Never the broadcast stream for a confirmation: whoever once unsubscribed is on that
        # stream's suppression list, and could never sign up again.
        stream = table["transactional_stream" if transactional else "message_stream"]
        return PostmarkProvider(client, stream, limits)
    if name == "mailgun":
        from innovate_news.delivery.providers.mailgun import MailgunProvider

        client = Client(name, table["base_url"], table["timeout"], auth=("api", key))
        return MailgunProvider(client, table["domain"], limits)
    from innovate_news.delivery.providers.sendgrid import SendGridProvider

    client = Client(
        name, table["base_url"], table["timeout"], headers={"Authorization": f"Bearer {key}"}
    )
    return SendGridProvider(client, limits)


def mailer(settings: Settings) -> Callable[[Message], Receipt]:
    """Sends one-off mail (sign-up confirmations) through the configured provider, one
    connection per message; bad settings fail here, at start, not at the first sign-up."""
    name = settings.email["provider"]
    create(settings, name, "confirmations", transactional=True).close()

    def send(message: Message) -> Receipt:
        provider = create(settings, name, "confirmations", transactional=True)
        try:
            provider.open()
            (receipt,) = provider.send([message])
        finally:
            provider.close()
        return receipt

    return send


# Pre-flight ------------------------------------------------------------------------------

SMTP_PASSWORD = "INNOVATE_NEWS_SMTP_PASSWORD"  # noqa: S105 (the variable's name)


def preflight(
    settings: Settings, name: str, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """What would stop a send through `name` for want of usable credentials, found before any
    plan is shown or connection made: a missing SMTP password or API key, or one that could
    not be sent as it is. Secret values are never shown."""
    environ = os.environ if environ is None else environ
    if name == "smtp":
        return _smtp_credentials(settings, environ)
    if name in KEYS:
        return _api_key(name, environ)
    return []


def _smtp_credentials(settings: Settings, environ: Mapping[str, str]) -> list[Problem]:
    username = str(settings.provider("smtp").get("username") or "")
    password = environ.get(SMTP_PASSWORD, "")
    problems = []
    if username and not password:
        problems.append(
            Problem(
                settings.path,
                None,
                f"[providers.smtp] username is set but {SMTP_PASSWORD} is not: set it in the "
                "environment (or remove username if the server takes mail without a login)",
            )
        )
    if not username.isascii():
        problems.append(
            Problem(
                settings.path,
                None,
                f"[providers.smtp] username {username!r} is not ASCII, which an SMTP login "
                "cannot send",
            )
        )
    if username and password and not password.isascii():
        problems.append(
            Problem(
                None,
                None,
                f"{SMTP_PASSWORD} holds a character that is not ASCII, which an SMTP login "
                "cannot send; check the variable (its value is not shown)",
            )
        )
    return problems


def _api_key(name: str, environ: Mapping[str, str]) -> list[Problem]:
    variable = KEYS[name]
    key = environ.get(variable, "").strip()
    if not key:
        return [Problem(None, None, f"{name} needs its API key in the environment variable "
                        f"{variable}")]  # fmt: skip
    # Keys are printable ASCII; anything else cannot go into an HTTP header as it is.
    if any(not "!" <= c <= "~" for c in key):
        return [
            Problem(None, None, f"{variable} holds a character no {name} API key has (one that "
                    "is not ASCII, a space or a control character); check the variable (its "
                    "value is not shown)")
        ]  # fmt: skip
    return []
