"""The provider seam: prepared messages in, one receipt per message out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Protocol, runtime_checkable

from innovate_news.mail import Message, MessageTemplate, Receipt


def shared_template(batch: Sequence[Message]) -> MessageTemplate | None:
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
    `TransientError` asks for the whole batch to be tried again later, `QuotaError` stops the
    run cleanly with the batch left pending. A deferred receipt whose `retry_after` exceeds
    `max_wait` is left for a later run. Providers own their
    connections, credentials, timeouts and error translation; they never see the ledger.
    """

    name: str
    limits: Limits

    def open(self) -> None:
        """Connect and authenticate, so bad credentials stop a run before its first message."""

    def send(self, batch: Sequence[Message]) -> list[Receipt]: ...

    def close(self) -> None: ...


@runtime_checkable
class Reporting(Protocol):
    """A provider that learns about its server while sending (a per-connection cap, a
    destination left for later); the send summary shows what it says."""

    def notes(self) -> list[str]: ...
