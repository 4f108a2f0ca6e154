"""Secrets come only from environment variables: their names, and keeping them out of text."""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import parse_qs, unquote, urlsplit

SECRET_VARIABLES = (
    "INNOVATE_NEWS_SECRET",
    "INNOVATE_NEWS_SMTP_PASSWORD",
    "INNOVATE_NEWS_POSTMARK_TOKEN",
    "INNOVATE_NEWS_MAILGUN_API_KEY",
    "INNOVATE_NEWS_SENDGRID_API_KEY",
    # The list service's webhook secrets (web.webhooks.VARIABLES); SendGrid's is a public
    # key, kept out of logs anyway as it names the account.
    "INNOVATE_NEWS_POSTMARK_WEBHOOK_PASSWORD",
    "INNOVATE_NEWS_MAILGUN_WEBHOOK_KEY",
    "INNOVATE_NEWS_SENDGRID_WEBHOOK_PUBLIC_KEY",
)
# A connection string whose password is secret (the rest of it is fit to show, and is shown
# without the password by store.postgres).
URL_VARIABLES = ("INNOVATE_NEWS_DATABASE_URL",)


def redact(text: str) -> str:
    """`text` with every secret from the environment blanked out, for errors we keep or print."""
    values = tuple(os.environ.get(name, "") for name in SECRET_VARIABLES)
    urls = tuple(os.environ.get(name, "") for name in URL_VARIABLES)
    for value in (*_secrets(values), *_passwords(urls)):
        if value in text:
            text = text.replace(value, "[redacted]")
    return text


@functools.lru_cache(maxsize=8)
def _secrets(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret, and each key of a "kid:secret,kid:secret" keyring, longest first."""
    pieces = {v for v in values if v}
    pieces |= {p for v in values for p in re.split(r"[,:]", v) if len(p) >= 8}
    return tuple(sorted(pieces, key=len, reverse=True))


@functools.lru_cache(maxsize=8)
def _passwords(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The password of each connection string, as written and decoded, longest first: in a URL
    (`postgresql://user:PASSWORD@host/db`, or `?password=`) or a `key=value` string."""
    found: set[str] = set()
    for url in filter(None, urls):
        if "://" in url:
            parts = urlsplit(url)
            userinfo = parts.netloc.rpartition("@")[0]
            if ":" in userinfo:
                found.add(userinfo.partition(":")[2])
            found.update(parse_qs(parts.query).get("password", []))
        found.update(m.group(1) or m.group(2) for m in _KEYWORD.finditer(url))
    found |= {unquote(p) for p in found}
    return tuple(sorted((p for p in found if p), key=len, reverse=True))


_KEYWORD = re.compile(r"\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s&']+))")
