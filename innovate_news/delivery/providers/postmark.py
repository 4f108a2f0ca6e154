"""Postmark: the batch endpoint, up to 500 messages and 50 MB a request, a result per message."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, NoReturn
from urllib.parse import quote

from innovate_news.delivery.providers.base import Limits, display_address
from innovate_news.delivery.providers.http import (
    Answer,
    Client,
    DeliveryUnknown,
    Spool,
    not_handed_over,
)
from innovate_news.errors import AuthError, SendError
from innovate_news.mail import Message, Receipt, fill
from innovate_news.secrecy import redact

MAX_BATCH = 500
MAX_REQUEST_BYTES = 50_000_000  # Postmark refuses a batch request over 50 MB
INACTIVE = 406  # the recipient bounced, complained, unsubscribed or was suppressed by hand
# Headers Postmark takes as fields of its own, or sets itself.
_OWN_HEADERS = {"from", "to", "subject", "reply-to", "cc", "bcc", "date", "mime-version"}
_OWN_HEADERS |= {"content-type", "content-transfer-encoding"}


class PostmarkProvider:
    """Sends through Postmark's /email/batch with a server token."""

    name = "postmark"

    def __init__(self, client: Client, message_stream: str, limits: Limits):
        self.client = client
        self.message_stream = message_stream
        self.limits = replace(limits, batch_size=min(limits.batch_size, MAX_BATCH))

    def open(self) -> None:
        return None

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        receipts: list[Receipt] = []
        for part, body in self._parts(batch):
            try:
                receipts += self._send_part(part, body)
            except SendError as exc:
                if not receipts:
                    raise
                return receipts + not_handed_over(batch[len(receipts) :], exc)
        return receipts

    def close(self) -> None:
        self.client.close()

    def _send_part(self, part: Sequence[Message], body: Spool) -> list[Receipt]:
        try:
            answer = self.client.post("/email/batch", body, "application/json")
        except DeliveryUnknown as exc:
            return [Receipt(m.address, "unknown", error=str(exc)) for m in part]
        if answer.status != 200:
            self._refused(answer)
        return self._results(part, answer)

    def _parts(self, batch: Sequence[Message]) -> Iterator[tuple[Sequence[Message], Spool]]:
        """The batch as JSON arrays of at most MAX_REQUEST_BYTES each (a message bigger than
        that goes alone, for Postmark to refuse it with a reason)."""
        body, start = Spool(), 0
        for index, message in enumerate(batch):
            item = json.dumps(self._item(message), ensure_ascii=False).encode("utf-8")
            if body.size and body.size + len(item) + 2 > MAX_REQUEST_BYTES:
                body.write(b"]")
                yield batch[start:index], body
                body, start = Spool(), index
            body.write(b"," + item if body.size else b"[" + item)
        if body.size:
            body.write(b"]")
            yield batch[start:], body

    def _item(self, message: Message) -> dict[str, Any]:
        template = message.template
        if template is None:
            return self._item_from_mime(message)
        fields = message.fields
        headers = [{"Name": k, "Value": fill(v, fields)} for k, v in template.headers]
        headers.append({"Name": "Message-ID", "Value": message.message_id})
        item: dict[str, Any] = {
            "From": template.sender,
            "To": display_address(message),
            "Subject": fill(template.subject, fields),
            "TextBody": fill(template.text, fields),
            "HtmlBody": fill(template.html, fields),
            "MessageStream": self.message_stream,
        }
        reply_to = [h for h in headers if h["Name"].lower() == "reply-to"]
        if reply_to:
            item["ReplyTo"] = reply_to[0]["Value"]
        item["Headers"] = [h for h in headers if h["Name"].lower() not in _OWN_HEADERS]
        return item

    def _item_from_mime(self, message: Message) -> dict[str, Any]:
        """The same fields taken from a finished MIME message (for one-off mail)."""
        parsed = BytesParser(policy=policy.default).parsebytes(message.data)
        assert isinstance(parsed, EmailMessage)
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        item: dict[str, Any] = {
            "From": str(parsed["From"]),
            "To": display_address(message),
            "Subject": str(parsed["Subject"] or ""),
            "MessageStream": self.message_stream,
            "Headers": [
                {"Name": k, "Value": str(v)}
                for k, v in parsed.items()
                if k.lower() not in _OWN_HEADERS
            ],
        }
        if parsed["Reply-To"]:
            item["ReplyTo"] = str(parsed["Reply-To"])
        if text is not None:
            item["TextBody"] = text.get_content()
        if html is not None:
            item["HtmlBody"] = html.get_content()
        return item

    def _results(self, batch: Sequence[Message], answer: Answer) -> list[Receipt]:
        try:
            results = json.loads(answer.body)
        except ValueError:
            results = None
        if not isinstance(results, list) or len(results) != len(batch):
            # Results cannot be matched to messages: whether each went out is not known.
            error = f"postmark answered 200 with {answer.text()[:200]!r}, not one result each"
            return [Receipt(m.address, "unknown", error=error) for m in batch]
        return [self._receipt(m, r) for m, r in zip(batch, results, strict=True)]

    def _receipt(self, message: Message, result: Any) -> Receipt:
        if not isinstance(result, dict):
            return Receipt(message.address, "unknown", error=f"unreadable result {result!r:.200}")
        code = result.get("ErrorCode")
        text = redact(str(result.get("Message", "")))
        if code == 0:
            return Receipt(message.address, "sent", provider_id=str(result.get("MessageID", "")))
        error = f"postmark ErrorCode {code}: {text}"
        if code == INACTIVE:
            reason = self._inactive_reason(message.address)
            return Receipt(message.address, "failed", error=error, suppress=reason)
        return Receipt(message.address, "failed", error=error)

    def _inactive_reason(self, address: str) -> str:
        """Why Postmark holds `address` inactive on this stream, as a suppression reason: its
        406 does not say, and an unsubscribe recorded as a bounce would be lifted when the
        bounce is (see web.webhooks), so Postmark's suppression list is asked."""
        path = f"/message-streams/{quote(self.message_stream, safe='')}/suppressions/dump"
        try:
            answer = self.client.get(path, {"EmailAddress": address})
            data = json.loads(answer.body) if answer.status == 200 else None
        except (SendError, ValueError):
            data = None
        found = data.get("Suppressions") if isinstance(data, dict) else None
        for entry in found if isinstance(found, list) else []:
            if isinstance(entry, dict) and str(entry.get("EmailAddress", "")).lower() == (
                address.lower()
            ):
                reason = suppression_reason(entry.get("SuppressionReason"), entry.get("Origin"))
                if reason:
                    return reason
        return "bounced"  # not found (or no answer): most inactive addresses are hard bounces

    @staticmethod
    def _refused(answer: Answer) -> NoReturn:
        """The whole request was refused (sender, stream, account...): nothing was sent, and
        the fix is in the setup, so the run stops instead of failing every recipient."""
        code, text = _error(answer)
        if code == 10:  # a bad or missing server token, even when not sent as HTTP 401
            raise AuthError(f"postmark refused the server token: {text}")
        raise SendError(
            f"postmark refused the request (HTTP {answer.status}, ErrorCode {code}): {text}"
        )


def suppression_reason(reason: object, origin: object) -> str:
    """A Postmark SuppressionReason (and its Origin) as a ledger suppression reason.

    Postmark records a recipient's own unsubscribe as a ManualSuppression whose Origin is
    "Recipient"; one made by the account ("Customer") or Postmark's staff ("Admin") is manual.
    """
    if reason == "HardBounce":
        return "bounced"
    if reason == "SpamComplaint":
        return "complained"
    if reason == "ManualSuppression":
        return "unsubscribed" if origin == "Recipient" else "manual"
    return ""


def _error(answer: Answer) -> tuple[Any, str]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        return None, answer.text()[:200]
    if isinstance(data, dict):
        return data.get("ErrorCode"), redact(str(data.get("Message", "")))[:300]
    return None, answer.text()[:200]
