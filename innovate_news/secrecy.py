"""Secrets come only from environment variables: their names, and keeping them out of text."""

from __future__ import annotations

import functools
import os
import re

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


def redact(text: str) -> str:
    """`text` with every secret from the environment blanked out, for errors we keep or print."""
    for value in _secrets(tuple(os.environ.get(name, "") for name in SECRET_VARIABLES)):
        if value in text:
            text = text.replace(value, "[redacted]")
    return text


@functools.lru_cache(maxsize=8)
def _secrets(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret, and each key of a "kid:secret,kid:secret" keyring, longest first."""
    pieces = {v for v in values if v}
    pieces |= {p for v in values for p in re.split(r"[,:]", v) if len(p) >= 8}
    return tuple(sorted(pieces, key=len, reverse=True))
