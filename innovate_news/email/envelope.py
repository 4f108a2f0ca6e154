"""The headers every copy of an issue shares, and the MIME layout its messages are filled into."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import format_datetime, parseaddr

from innovate_news.content.issues import Issue
from innovate_news.email import mime
from innovate_news.email.render import Rendered
from innovate_news.settings import Settings

TEST_PREFIX = "[TEST] "


@dataclass(frozen=True)
class Envelope:
    """Header values every copy of an issue shares, taken from settings once."""

    issue_slug: str
    sender: str
    reply_to: str | None
    list_id: str
    list_name: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str | None
    domain: str
    date: str

    @classmethod
    def of(cls, settings: Settings, issue: Issue, now: dt.datetime) -> Envelope:
        email = settings.email
        domain = email["message_id_domain"] or parseaddr(email["from"])[1].rpartition("@")[2]
        return cls(
            issue_slug=issue.slug,
            sender=email["from"],
            reply_to=email["reply_to"],
            list_id=email["list_id"],
            list_name=settings.site["title"],
            unsubscribe_url=email["unsubscribe_url"],
            unsubscribe_mailto=email["unsubscribe_mailto"],
            preferences_url=email["preferences_url"],
            domain=domain,
            date=format_datetime(now),
        )

    def headers(self, subject: str) -> list[tuple[str, str]]:
        """The constant headers before To: (the subject goes after it, see list_headers)."""
        items = [("From", self.sender)]
        if self.reply_to:
            items.append(("Reply-To", self.reply_to))
        return items

    def list_headers(self, subject: str) -> list[tuple[str, str]]:
        """The constant headers after To:, the List-Unsubscribe pair aside."""
        return [("Subject", subject), ("List-Id", f"{self.list_name} <{self.list_id}>")]

    def mailto(self) -> str:
        return f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe>"

    def message_id(self, address: str, test: bool) -> str:
        """The same for every run (a retry is recognisably the same message), and no address
        in clear."""
        digest = hashlib.sha256(f"{self.issue_slug}\x00{address.lower()}".encode()).hexdigest()
        kind = ".test" if test else ""
        return f"<{self.issue_slug}{kind}.{digest[:24]}@{self.domain}>"


def templates(
    variant_key: str,
    rendered: Rendered,
    placeholders: Mapping[str, str],
    subject: str,
    envelope: Envelope,
) -> tuple[mime.Template, mime.Template]:
    """Headers for a normal and a test copy, sharing one encoded body."""
    boundary = (
        "==innovate-news."
        + hashlib.sha256((variant_key + rendered.html + rendered.text).encode()).hexdigest()[:20]
        + "=="
    )
    body = mime.Builder()
    body.const(b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="')
    body.const(boundary.encode("ascii") + b'"\r\n\r\n')
    tokens = {token: name for name, token in placeholders.items()}
    for index, (subtype, content) in enumerate((("plain", rendered.text), ("html", rendered.html))):
        body.const((b"\r\n" if index else b"") + b"--" + boundary.encode("ascii") + b"\r\n")
        body.const(f'Content-Type: text/{subtype}; charset="utf-8"\r\n'.encode("ascii"))
        body.const(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        mime.qp_text(body, content, tokens, "text:" if subtype == "plain" else "html:")
    body.const(b"\r\n--" + boundary.encode("ascii") + b"--\r\n")
    encoded_body = body.template()
    return (
        _head(envelope, subject) + encoded_body,
        _head(envelope, subject_for(subject, test=True)) + encoded_body,
    )


def _head(envelope: Envelope, subject: str) -> mime.Template:
    head = mime.Builder()
    head.const(b"Date: " + envelope.date.encode("ascii") + b"\r\nMessage-ID: ")
    head.slot("message_id")
    head.const(b"\r\n" + mime.header_block(envelope.headers(subject)) + b"To: ")
    head.slot("to")
    head.const(b"\r\n" + mime.header_block(envelope.list_headers(subject)))
    head.const(b"List-Unsubscribe: <")
    head.slot("list_unsubscribe")
    head.const(b">,\r\n " + envelope.mailto().encode("ascii") + b"\r\n")
    head.const(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    return head.template()


def subject_for(subject: str, test: bool) -> str:
    return TEST_PREFIX + subject if test else subject
