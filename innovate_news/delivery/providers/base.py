"""The provider seam: a prepared message in, one receipt per message out."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from typing import Literal, Protocol

Status = Literal["sent", "failed", "deferred", "unknown"]
SECRET_VARIABLES = (
    "INNOVATE_NEWS_SECRET",
    "INNOVATE_NEWS_SMTP_PASSWORD",
    "INNOVATE_NEWS_POSTMARK_TOKEN",
    "INNOVATE_NEWS_MAILGUN_API_KEY",
    "INNOVATE_NEWS_SENDGRID_API_KEY",
)
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass(frozen=True)
class Template:
    """One variant of an issue with `{{field}}` placeholders, for providers that personalise.

    Batch APIs (Mailgun recipient variables, SendGrid substitutions) send this once per request
    with each recipient's fields; the values a provider receives are already escaped for where
    their placeholder stands (the HTML part's placeholders name HTML-escaped fields).
    """

    key: str
    sender: str
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...] = ()

    def parts(self) -> tuple[str, ...]:
        return (self.subject, self.text, self.html, *(value for _, value in self.headers))

    def placeholders(self) -> frozenset[str]:
        """Every field name a placeholder refers to."""
        return frozenset(m.group(1) for part in self.parts() for m in PLACEHOLDER.finditer(part))


def fill(text: str, fields: Mapping[str, str]) -> str:
    """Replace each `{{field}}` by its value; unknown names stay as they are."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), text)


def mark(text: str, marker: Callable[[str], str]) -> str:
    """Rewrite each `{{field}}` into a provider's own placeholder syntax."""
    return PLACEHOLDER.sub(lambda m: marker(m.group(1)), text)


class Message(Protocol):
    """A prepared copy for one recipient: the full RFC 5322 bytes and the fields that made it."""

    @property
    def address(self) -> str: ...

    @property
    def message_id(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def fields(self) -> Mapping[str, str]: ...

    @property
    def template(self) -> Template | None: ...


@dataclass(frozen=True)
class Prepared:
    """A ready-made Message, for tests, test sends and one-off mail."""

    address: str
    message_id: str
    data: bytes
    fields: Mapping[str, str] = field(default_factory=dict)
    template: Template | None = None


def shared_template(batch: Sequence[Message]) -> Template | None:
    """The template every message of `batch` was made from, or None: one-off mail, or copies
    of different variants, which a batch API cannot send as one request."""
    template = batch[0].template if batch else None
    if template is None or any(m.template is not template for m in batch):
        return None
    return template


def display_address(message: Message) -> str:
    """'Name <address>' with the name quoted or encoded as headers need it."""
    name = message.fields.get("name", "")
    if not name:
        return message.address
    try:
        return str(Address(display_name=name, addr_spec=message.address))
    except (ValueError, IndexError):
        return message.address


@dataclass(frozen=True)
class Receipt:
    """What became of one message: sent, failed (for good), deferred (try later) or unknown."""

    address: str
    status: Status
    provider_id: str = ""
    error: str = ""
    suppress: str = ""  # a suppression reason ("bounced", "complained") when the address is dead
    retry_after: float | None = None


@dataclass(frozen=True)
class Limits:
    """How the sender should feed a provider: batch size, parallel hand-overs, retry budget."""

    batch_size: int = 1
    concurrency: int = 1
    max_attempts: int = 4
    backoff: float = 1.0  # seconds before the first retry; doubled each time, with jitter
    max_wait: float = 120.0  # the longest a server's "retry after" is waited for in one run
    one_variant_per_batch: bool = False


class Provider(Protocol):
    """Hands prepared messages to a mail system.

    `send` returns one receipt per message, in order. It raises only when no message of the
    batch can have been handed over: `AuthError` and other `SendError`s end the run,
    `TransientError` asks for the whole batch to be tried again later. Providers own their
    connections, credentials, timeouts and error translation; they never see the ledger.
    """

    name: str
    limits: Limits

    def open(self) -> None:
        """Connect and authenticate, so bad credentials stop a run before its first message."""

    def send(self, batch: Sequence[Message]) -> list[Receipt]: ...

    def close(self) -> None: ...


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
