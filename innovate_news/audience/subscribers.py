"""The subscriber list: a CSV read, validated row by row and normalised for sending."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from innovate_news.content.posts import KINDS
from innovate_news.errors import Problem, SubscriberError

if TYPE_CHECKING:
    from _csv import Reader

COLUMNS = ("email", "name", "status", "topics", "consent_at", "consent_source")
# Read when present, never required: the greeting's "Hello Chidi," (a `name` such as
# "Okafor, Chidi" says nothing about which word a person is called by).
OPTIONAL_COLUMNS = ("first_name",)
STATUSES = ("subscribed", "unsubscribed", "bounced")
ALL_TOPICS = frozenset(KINDS)
# C0 controls but tab (whitespace, tidied to a space), DEL and C1: none can go into a header or
# a body, and the newsletter refuses them per recipient, mid-run; so a row holding one is bad.
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # ends as newline="" reads them


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One valid row; `topics` is never empty (an empty cell means every topic).

    `email` is the cell as written; `normalised` is where the copy goes (the address as
    written, tidied: see `tidy`); `key` is who the person is (see `normalise`), the form the
    ledger, suppressions and duplicates compare.
    """

    email: str
    normalised: str
    name: str
    status: str
    topics: frozenset[str]
    consent_at: str
    consent_source: str
    row: int
    first_name: str = ""

    @property
    def subscribed(self) -> bool:
        return self.status == "subscribed"

    @property
    def key(self) -> str:
        return normalise(self.normalised)


@dataclass(frozen=True)
class SubscriberList:
    """Every valid row in file order, plus what was wrong with the others."""

    path: Path
    subscribers: tuple[Subscriber, ...]
    problems: tuple[Problem, ...]  # rows that were left out (errors)
    duplicates: tuple[Problem, ...]  # later rows of an address already seen (warnings)

    @property
    def rows(self) -> int:
        return len(self.subscribers) + len(self.problems) + len(self.duplicates)

    def subscribed(self) -> Iterator[Subscriber]:
        return (s for s in self.subscribers if s.subscribed)

    def by_address(self) -> dict[str, Subscriber]:
        """Each subscriber by the address as written (`normalised`)."""
        return {s.normalised: s for s in self.subscribers}

    def by_key(self) -> dict[str, Subscriber]:
        """Each subscriber by `key`: look up any spelling with `normalise(address)`."""
        return {s.key: s for s in self.subscribers}


def normalise(address: str) -> str:
    """Who an address is: the form addresses are compared and recorded in, lower-case throughout.

    A@Example.org and a@example.org are one mailbox (Gmail, Microsoft and nearly every
    provider deliver local parts in any case), so they are one person: one copy, one ledger
    row, and a suppression or erasure of either spelling covers both.
    """
    return address.strip().lower()


def tidy(address: str) -> str:
    """The address as written, for sending: no surrounding space, lower-case domain."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else address


def check_address(address: str) -> str | None:
    """Why `address` cannot be mailed (syntax only, no DNS), or None when it can.

    Only what the newsletter can write into To: passes: an ASCII local part (no SMTPUTF8)
    and an ASCII domain, so no row that passes here stops a send half way.
    """
    try:
        found = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return str(exc)
    if not address.strip().rpartition("@")[2].isascii():
        return f"write the domain in its ASCII form: {found.ascii_domain}"
    return None


def read(path: Path) -> SubscriberList:
    """Read a subscriber CSV (UTF-8, a BOM tolerated); bad rows are collected, not raised.

    The file is streamed row by row: a 100,000-row list never sits in memory as text. Each
    line is decoded on its own, so a byte that is not UTF-8 spoils its row, not the file.
    """
    try:
        with path.open("rb") as handle:
            lines = _Lines(handle)
            return _parse(path, csv.reader(lines), lines)
    except csv.Error as exc:  # e.g. a stray quote that swallows the rest of the file
        raise SubscriberError(
            [Problem(path, lines.count, f"not readable as CSV ({exc}); check the quotes")]
        ) from exc
    except FileNotFoundError as exc:
        raise SubscriberError(
            f"subscriber list not found: {path}; pass --subscribers or set [email] subscribers",
            path,
        ) from exc


def parse_bytes(path: Path, data: bytes) -> SubscriberList:
    """A subscriber list from CSV bytes held in memory (the shared database's list, encoded);
    `path` names it in problems. Read exactly as `read` reads a file."""
    lines = _Lines(io.BytesIO(data))
    try:
        return _parse(path, csv.reader(lines), lines)
    except csv.Error as exc:
        raise SubscriberError(
            [Problem(path, lines.count, f"not readable as CSV ({exc}); check the quotes")]
        ) from exc


class _Lines:
    """The file's lines, decoded one at a time; lines that are not UTF-8 are noted in `bad`.

    Lines end where a text file opened with newline="" ends them (LF, CRLF or a lone CR),
    so row numbers are the ones csv counts.
    """

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.count = 0
        self.bad: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for chunk in self.handle:
            cr = chunk.find(b"\r")
            whole = cr == -1 or (cr == len(chunk) - 2 and chunk.endswith(b"\n"))
            for data in (chunk,) if whole else _LINE.findall(chunk):
                self.count += 1
                if self.count == 1 and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                try:
                    yield data.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad.add(self.count)
                    yield data.decode("utf-8", "replace")

    def spoilt(self, first: int, last: int) -> bool:
        """Whether any of lines first..last was not UTF-8."""
        return bool(self.bad) and any(n in self.bad for n in range(first, last + 1))


NOT_UTF8 = "not UTF-8; save the list as UTF-8 CSV"


def _parse(path: Path, reader: Reader, lines: _Lines) -> SubscriberList:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise SubscriberError(
            [Problem(path, 1, "empty file; the first row must name the columns")]
        ) from None
    if lines.spoilt(1, reader.line_num):
        raise SubscriberError([Problem(path, 1, f"the header row is {NOT_UTF8}")])
    if "email" not in header:
        raise SubscriberError(
            [Problem(path, 1, f"no 'email' column (found: {', '.join(header) or 'nothing'}); "
                     f"the first row must name the columns: {', '.join(COLUMNS)}")]
        )  # fmt: skip
    unknown = [h for h in header if h not in COLUMNS + OPTIONAL_COLUMNS]
    problems: list[Problem] = []
    if unknown:
        problems.append(
            Problem(path, 1, f"unknown column(s) ignored: {', '.join(unknown)}", "warning")
        )
    return _rows(path, reader, lines, header, problems)


def _rows(
    path: Path, reader: Reader, lines: _Lines, header: list[str], warnings: list[Problem]
) -> SubscriberList:
    good: list[Subscriber] = []
    bad: list[Problem] = list(warnings)
    duplicates: list[Problem] = []
    seen: dict[str, Subscriber] = {}
    topic_sets: dict[str, frozenset[str] | str] = {}
    line = 1
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if lines.spoilt(start, line):
            bad.append(Problem(path, start, NOT_UTF8))
            continue
        made = _subscriber(dict(zip(header, cells, strict=False)), start, topic_sets)
        if isinstance(made, str):
            bad.append(Problem(path, start, made))
            continue
        first = seen.get(made.key)
        if first is not None:
            duplicates.append(Problem(path, start, _repeats(made, first), "warning"))
            continue
        seen[made.key] = made
        good.append(made)
    return SubscriberList(path, tuple(good), tuple(bad), tuple(duplicates))


def _repeats(later: Subscriber, first: Subscriber) -> str:
    """A duplicate, with both rows: one mailbox, whatever the case of its spelling."""
    return (
        f"{later.email} repeats row {first.row} ({first.email}): one mailbox, so it is sent "
        f"once, to row {first.row}"
    )


def _subscriber(
    record: dict[str, str], row: int, topic_sets: dict[str, frozenset[str] | str]
) -> Subscriber | str:
    """A Subscriber, or the reason the row is unusable."""
    email = record.get("email", "").strip()
    if not email:
        return "empty email"
    why = check_address(email)
    if why:
        return f"invalid email {email!r}: {why}"
    if why := _control(record, email):
        return why
    name = record.get("name", "").strip()
    status = record.get("status", "").strip().lower() or "subscribed"
    if status not in STATUSES:
        return f"unknown status {status!r} for {email}; use one of: {', '.join(STATUSES)}"
    cell = record.get("topics", "").strip()
    topics = topic_sets.get(cell)
    if topics is None:
        topics = topic_sets[cell] = _topics(cell)
    if isinstance(topics, str):
        return f"{topics} for {email}"
    consent_at = record.get("consent_at", "").strip()
    if consent_at and not _is_datetime(consent_at):
        return f"consent_at {consent_at!r} of {email} is not a date like 2021-03-04T09:00:00Z"
    written = tidy(email)
    return Subscriber(
        email=email,
        normalised=written if written != email else email,
        name=name,
        status=sys.intern(status),
        topics=topics,
        consent_at=consent_at,
        consent_source=sys.intern(record.get("consent_source", "").strip()),
        row=row,
        first_name=" ".join(record.get("first_name", "").split()),
    )


def _control(record: dict[str, str], email: str) -> str | None:
    """What is wrong with a cell holding a control character (checked as read, unstripped)."""
    for column in COLUMNS + OPTIONAL_COLUMNS:
        if why := control_problem(column, record.get(column, ""), email):
            return why
    return None


def control_problem(label: str, value: str, email: str) -> str | None:
    """Why `value` (the `label` of `email`'s row) cannot be kept: a control character, which
    the list, its imports and every header refuse."""
    found = CONTROL.search(value)
    if found is None:
        return None
    if found.group() in "\r\n":
        return f"the {label} of {email} contains a line break; put it on one line"
    code = f"U+{ord(found.group()):04X}"
    return f"the {label} of {email} contains the control character {code}; remove it"


def _topics(cell: str) -> frozenset[str] | str:
    """The topics of one cell (shared between rows), or what is wrong with it."""
    chosen = {t.strip().lower() for t in cell.split(";") if t.strip()}
    unknown = sorted(chosen - ALL_TOPICS)
    if unknown:
        return f"unknown topic(s) {', '.join(unknown)}; use some of: {';'.join(KINDS)}"
    return frozenset(chosen) or ALL_TOPICS


def _is_datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
