"""SendGrid: v3 mail/send, one request per 1,000 personalizations of a variant."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Any

from innovate_news.delivery.providers.base import Limits, shared_template
from innovate_news.delivery.providers.http import Answer, Client, DeliveryUnknown
from innovate_news.errors import SendError
from innovate_news.mail import Message, MessageTemplate, Receipt, fill, mark

MAX_PERSONALIZATIONS = 1000
# Headers SendGrid takes as fields of its own or refuses as custom headers.
_OWN_HEADERS = {"from", "to", "subject", "reply-to", "cc", "bcc", "content-type"}
_OWN_HEADERS |= {"content-transfer-encoding", "mime-version", "date"}
_FIELD_INDEX = re.compile(r"^personalizations\.(\d+)\b")


def _tag(name: str) -> str:
    return f"[[{name}]]"


class SendGridProvider:
    """Sends through SendGrid's /v3/mail/send with an API key.

    A batch shares one variant: its content goes once with `[[field]]` substitution tags, and
    each recipient is one personalization with its own substitutions and headers (the
    List-Unsubscribe link differs per person).
    """

    name = "sendgrid"

    def __init__(self, client: Client, limits: Limits):
        self.client = client
        self.limits = replace(
            limits,
            batch_size=min(limits.batch_size, MAX_PERSONALIZATIONS),
            one_variant_per_batch=True,
        )

    def open(self) -> None:
        return None

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        template = shared_template(batch)
        if template is None:
            # One-off mail: the first message's parts stand for its own batch of one.
            return [r for m in batch for r in self._send(_one_off(m), [m])]
        return self._send(template, batch)

    def close(self) -> None:
        self.client.close()

    def _send(self, template: MessageTemplate, batch: Sequence[Message]) -> list[Receipt]:
        try:
            answer = self.client.post(
                "/v3/mail/send", self._body(template, batch), "application/json"
            )
        except DeliveryUnknown as exc:
            return [Receipt(m.address, "unknown", error=str(exc)) for m in batch]
        return _receipts(batch, answer)

    def _body(self, template: MessageTemplate, batch: Sequence[Message]) -> Iterator[bytes]:
        per_recipient = {k for k, v in template.headers if "{{" in v}
        shared = {k: v for k, v in template.headers if k not in per_recipient}
        head: dict[str, Any] = {
            "from": _contact(template.sender),
            "subject": mark(template.subject, _tag),
            "content": [
                {"type": "text/plain", "value": mark(template.text, _tag)},
                {"type": "text/html", "value": mark(template.html, _tag)},
            ],
        }
        reply_to = [v for k, v in shared.items() if k.lower() == "reply-to"]
        if reply_to:
            head["reply_to"] = _contact(reply_to[0])
        headers = {k: v for k, v in shared.items() if k.lower() not in _OWN_HEADERS}
        if headers:
            head["headers"] = headers
        opening = json.dumps(head, ensure_ascii=False)
        yield opening[:-1].encode("utf-8") + b', "personalizations": ['
        for index, message in enumerate(batch):
            item = json.dumps(
                _personalization(template, per_recipient, message), ensure_ascii=False
            )
            yield (item if index == 0 else "," + item).encode("utf-8")
        yield b"]}"


def _personalization(
    template: MessageTemplate, per_recipient: set[str], message: Message
) -> dict[str, Any]:
    fields = message.fields
    to: dict[str, str] = {"email": message.address}
    if fields.get("name"):
        to["name"] = fields["name"]
    headers = {k: fill(v, fields) for k, v in template.headers if k in per_recipient}
    headers["Message-ID"] = message.message_id
    names = template.placeholders()
    return {
        "to": [to],
        "substitutions": {_tag(n): fields.get(n, "") for n in sorted(names)},
        "headers": headers,
    }


def _contact(value: str) -> dict[str, str]:
    name, address = parseaddr(value)
    return {"email": address, "name": name} if name else {"email": address}


def _one_off(message: Message) -> MessageTemplate:
    parsed = BytesParser(policy=policy.default).parsebytes(message.data)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    skip = {"to", "message-id", "content-type", "mime-version", "content-transfer-encoding"}
    return MessageTemplate(
        key="one-off",
        sender=str(parsed["From"]),
        subject=str(parsed["Subject"] or ""),
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "",
        headers=tuple((k, str(v)) for k, v in parsed.items() if k.lower() not in skip),
    )


def _receipts(batch: Sequence[Message], answer: Answer) -> list[Receipt]:
    if 200 <= answer.status < 300:
        provider_id = {k.lower(): v for k, v in answer.headers.items()}.get("x-message-id", "")
        return [Receipt(m.address, "sent", provider_id=provider_id) for m in batch]
    errors = _errors(answer)
    # SendGrid refuses the whole request; an error that names one personalization fails that
    # recipient only, and the others are deferred to go again without it.
    blamed: dict[int, str] = {}
    for field, text in errors:
        match = _FIELD_INDEX.match(field or "")
        if match and int(match.group(1)) < len(batch):
            blamed[int(match.group(1))] = text
    summary = "; ".join(text for _, text in errors)[:300] or answer.text()[:200]
    error = f"sendgrid refused the request (HTTP {answer.status}): {summary}"
    if not blamed:
        # A refused request sent nothing, and its fix is in the setup (sender identity, ...).
        raise SendError(error)
    return [
        Receipt(m.address, "failed", error=f"sendgrid: {blamed[i]}")
        if i in blamed
        else Receipt(m.address, "deferred", error=error)
        for i, m in enumerate(batch)
    ]


def _errors(answer: Answer) -> list[tuple[str, str]]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        return []
    items = data.get("errors", []) if isinstance(data, dict) else []
    return [
        (str(e.get("field") or ""), str(e.get("message", ""))) for e in items if isinstance(e, dict)
    ]
