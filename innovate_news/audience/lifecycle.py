"""The list's lifecycle without HTTP: unsubscribes, preferences, sign-ups, confirmations, bounces.

Unsubscribes and bounces go straight to the ledger's suppressions (committed with an fsync
before the answer); confirmed sign-ups and topic changes go to the CSV under its lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from innovate_news.audience import confirmation, tokens
from innovate_news.audience.listfile import Editor, Row, Table
from innovate_news.audience.listtable import open_list
from innovate_news.audience.privacy import Stores, pseudonyms
from innovate_news.audience.signups import LIFETIME, Signup, Signups
from innovate_news.audience.subscribers import check_address, normalise, tidy
from innovate_news.content.posts import KINDS
from innovate_news.errors import RefusedError, TokenError
from innovate_news.mail import Message, Receipt
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger

Clock = Callable[[], dt.datetime]
FORMULA_START = ("=", "+", "-", "@")  # a name starting so would be a formula in a spreadsheet


class Mailer(Protocol):
    """Sends one message (the confirmation email) and says what became of it."""

    def __call__(self, message: Message, /) -> Receipt: ...


def keyring(settings: Settings) -> tokens.Keyring:
    """The keys that sign links: as `send` has them (a generated one only with the outbox)."""
    return tokens.keyring(settings, allow_generated=settings.email["provider"] == "outbox")


def topics_cell(topics: frozenset[str]) -> str:
    """Topics as the CSV writes them: empty when every topic is chosen."""
    if not topics or topics >= set(KINDS):
        return ""
    return ";".join(k for k in KINDS if k in topics)


@dataclass(frozen=True)
class Person:
    """What the preferences page shows."""

    address: str
    name: str
    topics: frozenset[str]
    subscribed: bool


@dataclass(frozen=True)
class SignupForm:
    email: str
    name: str
    topics: frozenset[str]
    consent: bool
    honeypot: str


class ListService:
    """Everything the web service does, each change durable before the method returns."""

    def __init__(self, settings: Settings, stores: Stores, mailer: Mailer, clock: Clock):
        self.settings = settings
        self.stores = stores
        self.keyring = stores.keyring
        self.ledger = stores.ledger
        self.signups = stores.signups
        self.listfile = stores.listfile
        self.mailer = mailer
        self.clock = clock
        self.list_id = str(settings.email["list_id"])
        url = settings["serve"]["public_url"] or settings.email["unsubscribe_url"]
        self.public_url = url if url.endswith("/") else url.rpartition("/")[0] + "/"

    @classmethod
    def open(cls, settings: Settings, mailer: Mailer, clock: Clock | None = None) -> ListService:
        stores = Stores(
            settings=settings,
            keyring=keyring(settings),
            listfile=open_list(settings),
            ledger=Ledger.open(settings, durable=True),
            signups=Signups.open(settings),
        )
        return cls(settings, stores, mailer, clock or (lambda: dt.datetime.now(dt.UTC)))

    def close(self) -> None:
        self.ledger.close()
        self.signups.close()
        self.listfile.close()

    # Links ------------------------------------------------------------------------------

    def address_of(self, purpose: str, token: str) -> str:
        """The address a genuine link for `purpose` was made for; TokenError otherwise."""
        fields = self.keyring.verify(purpose, token, self.clock())
        if len(fields) != 2 or fields[0] != self.list_id:
            raise TokenError("the link is not for this list")
        return fields[1]

    def link(
        self, page: str, purpose: str, *fields: str, expires: dt.datetime | None = None
    ) -> str:
        token = self.keyring.sign(purpose, self.list_id, *fields, expires=expires)
        return f"{self.public_url}{page}?t={token}"

    def unsubscribe(
        self, token: str, purpose: str = "unsubscribe", source: str = "one-click"
    ) -> str:
        """Suppress the address of an unsubscribe (or preferences) link; returns it."""
        address = self.address_of(purpose, token)
        self.ledger.suppress(address, "unsubscribed", source)
        return address

    # Preferences ------------------------------------------------------------------------

    def person(self, address: str) -> Person | None:
        found = self.listfile.lookup(address)
        return None if found is None else self._person(address, *found)

    def _person(self, address: str, table: Table, row: Row) -> Person:
        status = table.get(row, "status").strip().lower() or "subscribed"
        chosen = frozenset(t.strip() for t in table.get(row, "topics").lower().split(";"))
        return Person(
            address,
            table.get(row, "name"),
            (chosen & set(KINDS)) or frozenset(KINDS),
            status == "subscribed" and not self.ledger.is_suppressed(address),
        )

    def save_topics(self, token: str, topics: frozenset[str]) -> Person:
        address = self.address_of("preferences", token)
        if not topics:
            raise RefusedError("Choose at least one topic, or unsubscribe from everything.")
        with self.listfile.locked() as editor:
            table = editor.read()
            number = table.find(address)
            if number is None:
                raise RefusedError(f"{address} is not on the list.", 404)
            person = self._person(address, table, table.rows[number])
            if not person.subscribed:
                raise RefusedError(
                    f"{address} is unsubscribed; sign up again to get the newsletter.", 409
                )
            table = table.with_columns(("topics",))
            rows = list(table.rows)
            changed = table.changed(rows[number], {"topics": topics_cell(topics)})
            if changed is not rows[number]:
                rows[number] = changed
                editor.write(table.replace_rows(rows))
        return Person(address, person.name, topics, True)

    # Sign-up ----------------------------------------------------------------------------

    def subscribe(self, form: SignupForm, client: str) -> None:
        """Store a pending sign-up and email its confirmation link; RefusedError otherwise."""
        if form.honeypot.strip():
            return  # a robot filled the field people never see: say "check your inbox" anyway
        now = self.clock()
        if not self.signups.allow(client, now, int(self.settings["serve"]["signup_rate"])):
            raise RefusedError("Too many sign-ups from your network; try again in an hour.", 429)
        address = tidy(form.email)  # kept as typed: a copy goes to the address as written
        problems = _problems(form, address)
        if problems:
            raise RefusedError(" ".join(problems))
        consent = (self.settings.email["consent_version"], self.settings.email["consent_text"])
        topics = topics_cell(form.topics)
        signup = self.signups.add(address, " ".join(form.name.split()), topics, consent, now)
        if signup is None:
            return  # this address had its share of emails today; do not say so to strangers
        link = self.link("confirm", "confirm", signup.id, expires=now + LIFETIME)
        receipt = self.mailer(confirmation.message(self.settings, signup, link, now))
        if receipt.status != "sent":
            raise RefusedError(
                "The confirmation email could not be sent just now; please try again later.", 503
            )

    def pending(self, token: str) -> Signup:
        """The unconfirmed sign-up a confirmation link is for; changes nothing."""
        return _unconfirmed(self.signups.get(self._signup_id(token)))

    def confirm(self, token: str) -> Signup:
        """Add the person to the list (or back to it) with their consent, once per link.

        The consent is recorded with the time of this call: the person's own click, not the
        moment anything (a mail scanner) first fetched the link.
        """
        signup_id = self._signup_id(token)
        with self.listfile.locked() as editor:
            signup = _unconfirmed(self.signups.get(signup_id))
            now = self.clock()
            _write_person(editor, signup, now)
            for address in (signup.address, *pseudonyms(self.keyring, signup.address)):
                self.ledger.unsuppress(address)  # fresh consent lifts an old suppression
            self.signups.confirm(signup.id, now)
        return signup

    def _signup_id(self, token: str) -> str:
        fields = self.keyring.verify("confirm", token, self.clock())
        if len(fields) != 2 or fields[0] != self.list_id:
            raise TokenError("the link is not for this list")
        return fields[1]

    # Webhooks ---------------------------------------------------------------------------

    def suppress_reported(self, source: str, reports: Iterable[tuple[str, str]]) -> int:
        """Suppress each (address, reason) a provider reported dead; how many are new."""
        added = 0
        for address, reason in reports:
            if check_address(address) is None:
                added += self.ledger.suppress(normalise(address), reason, source)
        return added


def _unconfirmed(signup: Signup | None) -> Signup:
    if signup is None:
        raise RefusedError("This link is not known here; please sign up again.", 410)
    if signup.confirmed_at is not None:
        raise RefusedError("This link has already been used: you are on the list.", 410)
    return signup


def _problems(form: SignupForm, address: str) -> list[str]:
    problems = []
    if why := check_address(address):
        problems.append(f"That email address does not work: {why}")
    if any(c in form.name for c in "\r\n\x00") or len(form.name) > 200:
        problems.append("Please give your name on one line, in under 200 characters.")
    elif form.name.strip().startswith(FORMULA_START):
        problems.append("Please start your name with a letter.")
    if not form.topics <= set(KINDS):
        problems.append("Please choose topics from the list.")
    if not form.consent:
        problems.append("Please tick the box to agree to receive the newsletter.")
    return problems


def _write_person(editor: Editor, signup: Signup, now: dt.datetime) -> None:
    """Append the confirmed person to the list, or bring their existing row up to date."""
    values = {
        "email": signup.address,
        "name": signup.name,
        "status": "subscribed",
        "topics": signup.topics,
        "consent_at": now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "consent_source": f"web sign-up (consent {signup.consent_version})",
    }
    table = editor.read()
    number = table.find(signup.address)
    if number is None:
        editor.append([values], table)
        return
    if not signup.name:
        del values["name"]
    del values["email"]  # the row keeps the address as the team wrote it
    table = table.with_columns(values)
    rows = list(table.rows)
    rows[number] = table.changed(rows[number], values)
    editor.write(table.replace_rows(rows))
