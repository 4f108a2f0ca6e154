"""Mailgun: batch sending, a request per 1,000 recipients of a variant, with recipient variables."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from innovate_news.delivery.providers.base import Limits, display_address, shared_template
from innovate_news.delivery.providers.http import Answer, Client, DeliveryUnknown, not_handed_over
from innovate_news.errors import SendError
from innovate_news.mail import Message, MessageTemplate, Receipt, mark

MAX_RECIPIENTS = 1000
Value = str | Iterator[bytes]  # a form value, whole or streamed
# Headers Mailgun takes as fields of its own; every other template header goes as "h:Name".
_OWN_HEADERS = {"from", "to", "subject"}
# Mailgun refuses a whole request for one `to` address it cannot parse ("'to' parameter is
# not a valid address. please check documentation"), and does not always say which.
_BAD_TO = re.compile(r"\bto\b'? parameter is not a valid address", re.IGNORECASE)


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
        return self._send_variant(template, batch)

    def close(self) -> None:
        self.client.close()

    def _send_variant(self, template: MessageTemplate, batch: Sequence[Message]) -> list[Receipt]:
        """The batch in one request; if Mailgun refuses it for an invalid `to` address, that
        address fails alone and the rest go again (halved until found, when not named)."""
        done: dict[int, Receipt] = {}
        waiting = [list(range(len(batch)))]
        while waiting:
            part = waiting.pop(0)
            try:
                waiting += self._send_part(template, batch, part, done)
            except SendError as exc:
                if all(r.status == "failed" for r in done.values()):
                    raise  # nothing went out: the sender may retry or stop as it sees fit
                rest = [i for p in (part, *waiting) for i in p]
                done.update(zip(rest, not_handed_over([batch[i] for i in rest], exc), strict=True))
                break
        return [done[i] for i in range(len(batch))]

    def _send_part(
        self,
        template: MessageTemplate,
        batch: Sequence[Message],
        part: list[int],
        done: dict[int, Receipt],
    ) -> list[list[int]]:
        """Send batch[part]; record its receipts in `done`, or return the parts to try next."""
        messages = [batch[i] for i in part]
        boundary = uuid.uuid4().hex
        try:
            answer = self.client.post(
                f"/v3/{self.domain}/messages",
                _form(self._fields(template, messages), boundary),
                f"multipart/form-data; boundary={boundary}",
            )
        except DeliveryUnknown as exc:
            done.update((i, Receipt(batch[i].address, "unknown", error=str(exc))) for i in part)
            return []
        blamed = _invalid(messages, answer)
        if blamed is None:
            done.update(zip(part, _receipts(messages, answer), strict=True))
            return []
        for k in blamed:
            error = f"mailgun: {_text(answer)[:300]}"
            done[part[k]] = Receipt(messages[k].address, "failed", error=error)
        rest = [i for k, i in enumerate(part) if k not in blamed]
        if blamed or not rest:
            return [rest] if rest else []
        middle = len(rest) // 2
        return [rest[:middle], rest[middle:]]

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
        if _invalid([message], answer) is not None:
            return [Receipt(message.address, "failed", error=f"mailgun: {_text(answer)[:300]}")]
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


def _data(answer: Answer) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(answer: Answer) -> str:
    return str(_data(answer).get("message", "")) or answer.text()[:200]


def _invalid(batch: Sequence[Message], answer: Answer) -> list[int] | None:
    """None unless Mailgun refused the request for an invalid `to` address; then the indexes
    of the addresses its message names (all of a batch of one), or [] when it names none."""
    text = _text(answer)
    if answer.status != 400 or not _BAD_TO.search(text):
        return None
    if len(batch) == 1:
        return [0]
    return [
        k
        for k, m in enumerate(batch)
        if re.search(rf"(?<![\w.+-]){re.escape(m.address)}(?![\w.-])", text, re.IGNORECASE)
    ]


def _receipts(batch: Sequence[Message], answer: Answer) -> list[Receipt]:
    if 200 <= answer.status < 300:
        queued = str(_data(answer).get("id", ""))
        return [Receipt(m.address, "sent", provider_id=queued) for m in batch]
    # A refused request sent nothing, and its fix is in the setup (domain, sender, key scope).
    raise SendError(f"mailgun refused the request (HTTP {answer.status}): {_text(answer)[:300]}")
