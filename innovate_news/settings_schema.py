"""Every key innovate-news.toml may hold, with the converter that checks its value."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROVIDERS = ("outbox", "smtp", "postmark", "mailgun", "sendgrid")

Converter = Callable[[Any], Any]


class _Bad(ValueError):
    """A value that does not fit its key; the message says what would."""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be a string, not {type(value).__name__}")
    if any(c in value for c in "\r\n\x00"):
        raise _Bad("must not contain a line break or NUL")
    return value


def _nonempty(value: Any) -> str:
    text = _str(value).strip()
    if not text:
        raise _Bad("must not be empty")
    return text


def _url(value: Any) -> str:
    text = _nonempty(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Bad(f"must be an absolute http(s) URL, not {text!r}")
    return text


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_URL_SAFE = "/:@!$&'()*+,;=%?#[]~"  # kept as they are when a URL is percent-encoded


def ascii_domain(domain: str) -> str:
    """The domain as mail headers need it: ASCII, an internationalised one in its IDNA form."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _Bad(f"has a domain that is not a valid domain name: {domain!r}") from exc
    if not _HOSTNAME.fullmatch(encoded):
        raise _Bad(f"has a domain that is not a valid domain name: {domain!r}")
    return encoded


def ascii_url(value: Any) -> str:
    """An absolute http(s) URL that mail headers and signed links can carry: ASCII only.

    A non-ASCII one is refused, not rewritten, so the link people click is the one written in
    settings; the message gives the ASCII form to paste (IDNA host, percent-encoded rest).
    """
    text = _url(value)
    if text.isascii():
        return text
    parts = urlsplit(text)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    netloc = quote(userinfo, safe=_URL_SAFE) + at + ascii_domain(host) + colon + port
    rest = [quote(part, safe=_URL_SAFE) for part in (parts.path, parts.query, parts.fragment)]
    fixed = urlunsplit((parts.scheme, netloc, *rest))
    raise _Bad(f"must be ASCII, as mail headers need; write it as {fixed!r}")


def ascii_address(address: str) -> None:
    """Refuse an address that mail headers and SMTP's MAIL FROM cannot carry as it is."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise _Bad(
            f"{address!r}: the part before @ must be ASCII (such mailboxes need SMTPUTF8, "
            "which innovate-news does not use)"
        )
    if not domain.isascii():
        fixed = f"{local}@{ascii_domain(domain)}"
        raise _Bad(f"{address!r}: write the domain in its ASCII form: {fixed}")


def _base_url(value: Any) -> str:
    text = _url(value)
    return text if text.endswith("/") else text + "/"


def _int(low: int, high: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}, not {value}")
        return value

    return convert


def _number(low: float, high: float) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}, not {value}")
        return float(value)

    return convert


def _choice(*options: str) -> Converter:
    def convert(value: Any) -> str:
        text = _str(value)
        if text not in options:
            raise _Bad(f"must be one of {', '.join(options)}, not {text!r}")
        return text

    return convert


def _timezone(value: Any) -> str:
    text = _nonempty(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _Bad(f"is not a known time zone: {text!r}") from exc
    return text


def _window(value: Any) -> str:
    """`Mon-Fri 08:00-18:00`: kept as text, checked here and read by `schedule.parse_window`."""
    from innovate_news.schedule import parse_window

    text = _nonempty(value)
    try:
        parse_window(text)
    except ValueError as exc:
        raise _Bad(str(exc)) from exc
    return text


def _colour(value: Any) -> str:
    text = _str(value)
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        raise _Bad(f"must be a colour like #1d3557, not {text!r}")
    return text.lower()


def _lines(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad("must be a list of strings")
    return tuple(_str(v) for v in value)


def _licence(value: Any) -> str:
    """An SPDX licence id, spelt as SPDX spells it."""
    from innovate_news import spdx

    try:
        return spdx.canonical(_nonempty(value))
    except ValueError as exc:
        raise _Bad(str(exc)) from exc


def _language(value: Any) -> str:
    text = _nonempty(value)
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", text):
        raise _Bad(f"must be a language tag like en-GB, not {text!r}")
    return text


def _domain(value: Any) -> str:
    text = _nonempty(value).rstrip(".").lower()
    encoded = ascii_domain(text)
    if encoded != text:
        raise _Bad(f"must be ASCII; write it as {encoded!r}")
    return text


def _dns_server(value: Any) -> str:
    """`IP` or `IP:PORT` (`[IPv6]:PORT`): a name server to ask instead of the system's."""
    import ipaddress

    text = _nonempty(value)
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise _Bad(f"must be an IP address, optionally with :PORT, not {text!r}") from exc
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _Bad(f"has a port that is not between 1 and 65535: {text!r}")
    return text


@dataclass(frozen=True)
class Key:
    """One allowed key: how to convert it, and its default (None and not required: optional)."""

    convert: Converter
    default: Any = None
    required: bool = False


SCHEMA: dict[str, dict[str, Key]] = {
    "site": {
        "title": Key(_nonempty, required=True),
        "base_url": Key(_base_url, required=True),
        "description": Key(_str, ""),
        "language": Key(_language, "en-GB"),
        "author": Key(_nonempty, required=True),
        "timezone": Key(_timezone, "Europe/London"),
        "feed_items": Key(_int(1, 1_000_000), 50),
        # A tag's feeds follow a topic's new posts: a short window, whatever `feed_items` is
        # (each post is in as many tag feeds as it has tags).
        "tag_feed_items": Key(_int(1, 1_000_000), 20),
        "websub_hub": Key(_url),
        # `ping`: tries per feed when the hub is busy or unreachable, and the first wait
        # between them in seconds, then doubled (so 0.5, 1, 2 by default)
        "websub_attempts": Key(_int(1, 10), 4),
        "websub_backoff": Key(_number(0, 60), 0.5),
        "funder": Key(_str, ""),
        "licence": Key(_licence),  # SPDX id: the feeds' rights, posts' default licence
        "lead": Key(_str, ""),  # the home page's short lead (default: site.description)
        "privacy_notice": Key(_lines, ()),  # the privacy page's paragraphs (default: standard)
    },
    "paths": {
        "posts": Key(_nonempty, "posts"),
        "issues": Key(_nonempty, "issues"),
        "templates": Key(_nonempty),
        "output": Key(_nonempty, "site"),
        "state": Key(_nonempty, ".innovate-news"),
        "outbox": Key(_nonempty, "outbox"),
        "preview": Key(_nonempty, "preview"),
        "static": Key(_nonempty, "static"),
    },
    "email": {
        "from": Key(_nonempty, required=True),
        "reply_to": Key(_nonempty),
        "list_id": Key(_nonempty, required=True),
        "provider": Key(_choice(*PROVIDERS), "outbox"),
        "subscribers": Key(_nonempty, "subscribers.csv"),
        "unsubscribe_url": Key(ascii_url, required=True),
        "unsubscribe_mailto": Key(_nonempty, required=True),
        "preferences_url": Key(ascii_url),
        "footer": Key(_lines, ()),
        "sign_off": Key(_lines, ()),
        "postal_address": Key(_str, ""),
        "logo_url": Key(_url),
        "logo_alt": Key(_str, ""),
        "brand_colour": Key(_colour, "#1d3557"),
        "accent_colour": Key(_colour, "#e76f51"),
        "message_id_domain": Key(_nonempty),
        "consent_version": Key(_nonempty, "v1"),
        "consent_text": Key(_nonempty, "I agree to receive the newsletter by email."),
        "sample_name": Key(_str, "Sam Example"),
        "sample_first_name": Key(_str, "Sam"),
        "sample_email": Key(_nonempty, "sam@example.org"),
        "window": Key(_window),  # when `send --due` may send, in [site] timezone
    },
    "providers.outbox": {},
    "providers.smtp": {
        "host": Key(_nonempty, "localhost"),
        "port": Key(_int(1, 65535), 587),
        "security": Key(_choice("starttls", "tls", "none"), "starttls"),
        "username": Key(_str),
        "ca_file": Key(_nonempty),
        "concurrency": Key(_int(1, 64), 4),
        "rate": Key(_number(0.01, 100_000), 10.0),
        "daily_cap": Key(_int(1, 100_000_000)),
        "hourly_cap": Key(_int(1, 100_000_000)),
        "max_per_connection": Key(_int(1, 1_000_000), 100),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "dkim_selector": Key(_nonempty),
        "dkim_domain": Key(_nonempty),
        "dkim_key_file": Key(_nonempty),
    },
    "providers.postmark": {
        "base_url": Key(_url, "https://api.postmarkapp.com"),
        "message_stream": Key(_nonempty, "broadcast"),
        "transactional_stream": Key(_nonempty, "outbound"),  # sign-up confirmations
        "batch_size": Key(_int(1, 500), 500),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "providers.mailgun": {
        "base_url": Key(_url, "https://api.mailgun.net"),
        "domain": Key(_nonempty, "mg.example.org"),
        "batch_size": Key(_int(1, 1000), 1000),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "providers.sendgrid": {
        "base_url": Key(_url, "https://api.sendgrid.com"),
        "batch_size": Key(_int(1, 1000), 1000),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "serve": {
        "host": Key(_nonempty, "127.0.0.1"),
        "port": Key(_int(1, 65535), 8080),
        "signup_rate": Key(_int(1, 10_000), 5),  # sign-up requests per client address an hour
        "public_url": Key(_base_url),  # where the service is reached (default: unsubscribe_url's)
        "threads": Key(_int(1, 256), 4),  # few: the GIL serves a short FIFO queue fairest
        "trusted_proxy": Key(_nonempty),  # a reverse proxy whose X-Forwarded-For is believed
        "postmark_webhook_user": Key(_nonempty, "postmark"),
    },
    # `check --deliverability`: the DNS it asks, and what the provider signs and bounces with.
    "deliverability": {
        "dns_server": Key(_dns_server),  # default: the system's resolver
        "dns_timeout": Key(_number(0.1, 60), 3.0),  # seconds for each lookup
        "return_path_domain": Key(_domain),  # the bounce (envelope) domain SPF is checked on
        "dkim_selector": Key(_nonempty),  # the selector an API provider signs with
    },
    # Where the ledger, suppressions and sign-ups live: files in the state folder, or one
    # PostgreSQL database a team shares (its URL only in INNOVATE_NEWS_DATABASE_URL).
    "store": {
        "backend": Key(_choice("sqlite", "postgresql"), "sqlite"),
    },
}
