"""What one recipient's message is and what became of it: the words every mail-making layer shares.

A `Message` is the seam between the layers that make mail (the newsletter, sign-up confirmations)
and the providers that hand it over; a `Receipt` is what the ledger records of each hand-over.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Status = Literal["sent", "failed", "deferred", "unknown"]
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass(frozen=True)
class MessageTemplate:
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


class Message:
    """One recipient's complete message: the RFC 5322 bytes (CRLF) and the fields that made them.

    `template` is the variant with `{{field}}` placeholders, for providers that personalise on
    their side; `fields` then holds each value, pre-escaped as `html_<name>` for the HTML part.
    Whatever can fail (checking and encoding each value) is done before a provider is handed
    the message, so a message that cannot be made fails before the ledger marks anyone as
    being sent. Only the final assembly of the bytes may wait for `data` to be read (`make`):
    an API provider that personalises on its side never needs them, and a 1,000-message batch
    then holds 1,000 sets of fields, not 1,000 encoded messages.
    """

    __slots__ = ("_data", "_make", "address", "fields", "message_id", "template")

    def __init__(
        self,
        address: str,
        message_id: str,
        data: bytes | None = None,
        fields: Mapping[str, str] | None = None,
        template: MessageTemplate | None = None,
        *,
        make: Callable[[], bytes] | None = None,
    ):
        if (data is None) == (make is None):
            raise ValueError("a Message needs its bytes or a way to make them, not both")
        self.address = address
        self.message_id = message_id
        self.fields: Mapping[str, str] = fields or {}
        self.template = template
        self._data = data
        self._make = make

    @property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._make is not None
        return self._make()

    def __repr__(self) -> str:
        return f"Message({self.address!r}, {self.message_id!r})"


@dataclass(frozen=True)
class Receipt:
    """What became of one message: sent, failed (for good), deferred (try later) or unknown."""

    address: str
    status: Status
    provider_id: str = ""
    error: str = ""
    suppress: str = ""  # a suppression reason ("bounced", "complained") when the address is dead
    retry_after: float | None = None
