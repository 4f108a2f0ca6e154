"""Ready-to-send messages: each variant compiled and encoded once, then filled per recipient."""

from __future__ import annotations

import datetime as dt
import functools
import html
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from innovate_news.audience.tokens import Keyring
from innovate_news.content.issues import Issue, load_posts, select_posts
from innovate_news.content.posts import Post
from innovate_news.email import context as email_context
from innovate_news.email import mime, render
from innovate_news.email.envelope import (
    TEST_PREFIX as TEST_PREFIX,  # re-exported: senders mark test copies
)
from innovate_news.email.envelope import Envelope, templates
from innovate_news.errors import RenderError, SubscriberError
from innovate_news.mail import Message, MessageTemplate
from innovate_news.settings import Settings

FIELDS = ("greeting", "name", "address", "unsubscribe_url", "preferences_url")
REQUIRED = ("unsubscribe_url",)  # a bulk message without a working unsubscribe link is refused


@dataclass(frozen=True)
class Recipient:
    """One person to send to; `row` is their line in the subscriber CSV, for error messages."""

    address: str
    name: str = ""
    topics: frozenset[str] = frozenset()  # empty: every topic
    row: int | None = None
    first_name: str = ""  # the greeting's; never guessed from `name`

    def where(self) -> str:
        return f"row {self.row}" if self.row is not None else self.address


def _link(base: str, token: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}t={token}"


@dataclass(frozen=True)
class Variant:
    """One compiled email for one (issue, topic selection), and its MIME template."""

    key: str
    topics: frozenset[str]
    subject: str
    html: str  # with placeholders (see `placeholders`)
    text: str
    placeholders: Mapping[str, str]  # field -> the token standing for it in html and text
    envelope: Envelope = field(repr=False)
    _templates: tuple[mime.Template, mime.Template] = field(repr=False)

    @functools.cached_property
    def _slots(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The fields the text and the HTML part use: only those are encoded per recipient."""
        names = self._templates[0].names
        text = tuple(f for f in FIELDS if f"text:{f}" in names)
        return text, tuple(f for f in FIELDS if f"html:{f}" in names)

    def fill_html(self, fields: Mapping[str, str]) -> str:
        """The HTML with a recipient's values, escaped for HTML (for API providers)."""
        out = self.html
        for name, token in self.placeholders.items():
            out = out.replace(token, html.escape(fields[name]))
        return out

    def fill_text(self, fields: Mapping[str, str]) -> str:
        out = self.text
        for name, token in self.placeholders.items():
            out = out.replace(token, fields[name])
        return out

    def fields_for(
        self, recipient: Recipient, keyring: Keyring, test: bool = False
    ) -> dict[str, str]:
        """Every per-recipient value, checked for header safety first."""
        name = clean_name(recipient)
        address = recipient.address
        if problem := mime.address_problem(address):
            raise SubscriberError(f"{recipient.where()}: email {address!r} {problem}")
        env = self.envelope
        preferences = ""
        if env.preferences_url:
            preferences = _link(
                env.preferences_url, keyring.sign("preferences", env.list_id, address)
            )
        return {
            "name": name,
            "greeting": greeting(recipient),
            "address": address,
            "unsubscribe_url": _link(
                env.unsubscribe_url, keyring.sign("unsubscribe", env.list_id, address)
            ),
            "preferences_url": preferences,
            "message_id": env.message_id(address, test),
        }

    def personalise(self, recipient: Recipient, keyring: Keyring, test: bool = False) -> Message:
        """This recipient's copy: values encoded and dropped into the prepared MIME bytes."""
        fields = self.fields_for(recipient, keyring, test)
        template = self._templates[1 if test else 0]
        values = {
            "to": mime.format_address(fields["name"], fields["address"]).encode("ascii"),
            "message_id": fields["message_id"].encode("ascii"),
            "list_unsubscribe": fields["unsubscribe_url"].encode("ascii"),
        }
        for name in self.placeholders:  # escaped once: for the HTML part and for API providers
            fields[f"html_{name}"] = html.escape(fields[name])
        for name in self._slots[0]:
            values["text:" + name] = mime.qp_value(fields[name])
        for name in self._slots[1]:
            values["html:" + name] = mime.qp_value(fields[f"html_{name}"])
        return Message(
            recipient.address,
            fields["message_id"],
            fields=fields,
            template=self._message_templates[1 if test else 0],
            make=functools.partial(template.fill, values),  # every value is encoded by now
        )

    @functools.cached_property
    def _message_templates(self) -> tuple[MessageTemplate, MessageTemplate]:
        return self._message_template(False), self._message_template(True)

    def _message_template(self, test: bool) -> MessageTemplate:
        """This variant with `{{field}}` placeholders (`{{html_field}}` in the HTML, escaped)."""
        html_part, text_part = self.html, self.text
        for name, token in self.placeholders.items():
            html_part = html_part.replace(token, f"{{{{html_{name}}}}}")
            text_part = text_part.replace(token, f"{{{{{name}}}}}")
        envelope = self.envelope
        headers = [(k, v) for k, v in envelope.headers(self.subject) if k != "From"]
        headers += [(k, v) for k, v in envelope.list_headers(self.subject) if k != "Subject"]
        headers.append(("List-Unsubscribe", f"<{{{{unsubscribe_url}}}}>, {envelope.mailto()}"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return MessageTemplate(
            key=f"{self.key}{'+test' if test else ''}",
            sender=envelope.sender,
            subject=(TEST_PREFIX if test else "") + self.subject,
            text=text_part,
            html=html_part,
            headers=tuple(headers),
        )


def greeting(recipient: Recipient) -> str:
    """The first_name column's "Hello Chidi,", else a neutral "Hello,": a full name
    ("Okafor, Chidi", "Dr A. Okafor") cannot be trusted to start with what to call someone."""
    first = recipient.first_name
    if problem := mime.header_problem(first.replace("\t", " ")):
        raise SubscriberError(f"{recipient.where()}: first_name {problem}; fix it in the list")
    first = " ".join(first.split())
    return f"Hello {first}," if first else "Hello,"


def clean_name(recipient: Recipient) -> str:
    """The name with its whitespace tidied; a line break or control character is refused."""
    if problem := mime.header_problem(recipient.name.replace("\t", " ")):
        raise SubscriberError(f"{recipient.where()}: name {problem}; fix it in the list")
    return " ".join(recipient.name.split())


class Newsletter:
    """An issue ready to send: its posts chosen, each topic selection compiled once on demand."""

    def __init__(
        self,
        settings: Settings,
        issue: Issue,
        posts: Sequence[Post],
        keyring: Keyring,
        now: dt.datetime,
    ):
        self.settings = settings
        self.issue = issue
        self.posts = list(posts)
        self.keyring = keyring
        self.cards = [
            email_context.card(settings, email_context.post_record(settings, p), issue.date)
            for p in self.posts
        ]
        self.kinds = frozenset(c["kind"] for c in self.cards)
        self.envelope = Envelope.of(settings, issue, now)
        self._variants: dict[frozenset[str], Variant] = {}
        nonce = secrets.token_hex(4).upper()
        self.placeholders = {
            name: f"ZQX{name.replace('_', '').upper()}{nonce}ZQX" for name in FIELDS
        }

    def selection(self, topics: Iterable[str]) -> frozenset[str] | None:
        """The sections a subscriber with these topics gets; None when that is nothing."""
        wanted = frozenset(topics) & email_context.TOPICS or email_context.TOPICS
        if not self.kinds:
            return frozenset()  # an editorial without posts goes to everyone
        return (wanted & self.kinds) or None

    def variant_for(self, topics: Iterable[str]) -> Variant | None:
        chosen = self.selection(topics)
        if chosen is None:
            return None
        if chosen not in self._variants:
            self._variants[chosen] = self._compile(chosen)
        return self._variants[chosen]

    def variants(self) -> list[Variant]:
        """Every distinct variant subscribers could get (for `check`)."""
        out: dict[str, Variant] = {}
        kinds = sorted(self.kinds)
        for mask in range(1, 2 ** len(kinds)):
            topics = {k for i, k in enumerate(kinds) if mask >> i & 1}
            if (variant := self.variant_for(topics)) is not None:
                out[variant.key] = variant
        if not kinds and (variant := self.variant_for(())) is not None:
            out[variant.key] = variant
        return list(out.values())

    def messages(self, recipients: Iterable[Recipient], test: bool = False) -> Iterator[Message]:
        """Each recipient's copy, lazily (100,000 of them never sit in memory at once)."""
        for recipient in recipients:
            variant = self.variant_for(recipient.topics)
            if variant is not None:
                yield variant.personalise(recipient, self.keyring, test)

    def _compile(self, topics: frozenset[str]) -> Variant:
        context = email_context.context(
            self.settings, self.issue, self.cards, topics or email_context.TOPICS, self.placeholders
        )
        rendered = render.render(self.settings, context)
        rendered = render.Rendered(_end_line(rendered.html), _end_line(rendered.text))
        key = "+".join(sorted(topics)) or "editorial"
        for part, content in (("HTML", rendered.html), ("text", rendered.text)):
            for name in REQUIRED:
                if self.placeholders[name] not in content:
                    raise RenderError(
                        f"the {part} part of the email has no {name} link; keep "
                        "footer.unsubscribe_url in the template"
                    )
        subject = self.issue.subject
        return Variant(
            key=key,
            topics=topics,
            subject=subject,
            html=rendered.html,
            text=rendered.text,
            placeholders=self.placeholders,
            envelope=self.envelope,
            _templates=templates(key, rendered, self.placeholders, subject, self.envelope),
        )


def _end_line(text: str) -> str:
    """LF line ends and a final newline, as EmailMessage.set_content would make them."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def prepare(
    settings: Settings,
    issue: Issue,
    keyring: Keyring,
    now: dt.datetime,
    posts: Sequence[Post] | None = None,
) -> Newsletter:
    """Choose the issue's posts (errors name the issue file's line) and get ready to render."""
    every = load_posts(settings) if posts is None else posts
    return Newsletter(settings, issue, select_posts(settings, issue, every, now), keyring, now)
