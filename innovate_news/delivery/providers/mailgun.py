"""Mailgun: batch sending, a request per 1,000 recipients of a variant, with recipient variables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from innovate_news.delivery.providers.base import Limits, display_address, shared_template
from innovate_news.delivery.providers.http import Answer, Client, DeliveryUnknown
from innovate_news.errors import SendError
from innovate_news.mail import Message, MessageTemplate, Receipt, mark

MAX_RECIPIENTS = 1000
Value = str | Iterator[bytes]  # a form value, whole or streamed
# Headers Mailgun takes as fields of its own; every other template header goes as "h:Name".
_OWN_HEADERS = {"from", "to", "subject"}


def _marker(name: str) -> str:
    return f"%recipient.{name}%"


class MailgunProvider:
    """Sends through Mailgun's /v3/<domain>/messages with an API key.

    A batch shares one variant: its subject, text, HTML and headers go once, with
    `%recipient.field%` placeholders, and `recipient-variables` carries each recipient's fields.
    Mailgun then sends every recipient a separate message. A batch without a template (one-off
    mail) goes message by message through the MIME endpoint.
    """

    name = "mailgun"

    def __init__(self, client: Client, domain: str, limits: Limits):
        self.client = client
        self.domain = domain
        self.limits = replace(
            limits, batch_size=min(limits.batch_size, MAX_RECIPIENTS), one_variant_per_batch=True
        )

    def open(self) -> None:
        return None

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        template = shared_template(batch)
        if template is None:
            return [receipt for m in batch for receipt in self._send_mime(m)]
        boundary = uuid.uuid4().hex
        try:
            answer = self.client.post(
                f"/v3/{self.domain}/messages",
                _form(self._fields(template, batch), boundary),
                f"multipart/form-data; boundary={boundary}",
            )
        except DeliveryUnknown as exc:
            return [Receipt(m.address, "unknown", error=str(exc)) for m in batch]
        return _receipts(batch, answer)

    def close(self) -> None:
        self.client.close()

    def _fields(
        self, template: MessageTemplate, batch: Sequence[Message]
    ) -> Iterator[tuple[str, Value]]:
        yield "from", template.sender
        for message in batch:
            yield "to", display_address(message)
        yield "subject", mark(template.subject, _marker)
        yield "text", mark(template.text, _marker)
        yield "html", mark(template.html, _marker)
        for name, value in template.headers:
            if name.lower() not in _OWN_HEADERS:
                yield f"h:{name}", mark(value, _marker)
        yield "h:Message-ID", f"<{_marker('message_id_bare')}>"
        yield "recipient-variables", _variables(template, batch)

    def _send_mime(self, message: Message) -> list[Receipt]:
        boundary = uuid.uuid4().hex
        try:
            answer = self.client.post(
                f"/v3/{self.domain}/messages.mime",
                _form([("to", message.address)], boundary, mime=message.data),
                f"multipart/form-data; boundary={boundary}",
            )
        except DeliveryUnknown as exc:
            return [Receipt(message.address, "unknown", error=str(exc))]
        return _receipts([message], answer)


def _variables(template: MessageTemplate, batch: Sequence[Message]) -> Iterator[bytes]:
    """The recipient-variables JSON object, one recipient at a time (1,000 make ~1 MB)."""
    names = sorted(template.placeholders())
    for index, message in enumerate(batch):
        fields = message.fields
        values = {name: fields.get(name, "") for name in names}
        values["message_id_bare"] = message.message_id.strip("<>")
        entry = json.dumps({message.address: values}, ensure_ascii=False)[1:-1]
        yield ("{" if index == 0 else ",").encode() + entry.encode("utf-8")
    yield b"}" if batch else b"{}"


def _form(fields: Iterable[tuple[str, Value]], boundary: str, mime: bytes = b"") -> Iterator[bytes]:
    """multipart/form-data, streamed field by field (and piece by piece for long values)."""
    dash = f"--{boundary}".encode("ascii")
    for name, value in fields:
        head = dash + b'\r\nContent-Disposition: form-data; name="' + name.encode("ascii")
        if isinstance(value, str):
            yield head + b'"\r\n\r\n' + value.encode("utf-8") + b"\r\n"
            continue
        yield head + b'"\r\n\r\n'
        yield from value
        yield b"\r\n"
    if mime:
        yield (
            dash
            + b'\r\nContent-Disposition: form-data; name="message"; filename="message.mime"'
            + b"\r\nContent-Type: message/rfc822\r\n\r\n"
            + mime
            + b"\r\n"
        )
    yield dash + b"--\r\n"


def _receipts(batch: Sequence[Message], answer: Answer) -> list[Receipt]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    text = str(data.get("message", "")) or answer.text()[:200]
    if 200 <= answer.status < 300:
        queued = str(data.get("id", ""))
        return [Receipt(m.address, "sent", provider_id=queued) for m in batch]
    # A refused request sent nothing, and its fix is in the setup (domain, sender, key scope).
    raise SendError(f"mailgun refused the request (HTTP {answer.status}): {text[:300]}")
