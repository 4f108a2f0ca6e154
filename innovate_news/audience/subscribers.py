"""The subscriber list: a CSV read, validated row by row and normalised for sending."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from innovate_news.content.posts import KINDS
from innovate_news.errors import Problem, SubscriberError

if TYPE_CHECKING:
    from _csv import Reader

COLUMNS = ("email", "name", "status", "topics", "consent_at", "consent_source")
STATUSES = ("subscribed", "unsubscribed", "bounced")
ALL_TOPICS = frozenset(KINDS)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One valid row; `topics` is never empty (an empty cell means every topic)."""

    email: str
    normalised: str
    name: str
    status: str
    topics: frozenset[str]
    consent_at: str
    consent_source: str
    row: int

    @property
    def subscribed(self) -> bool:
        return self.status == "subscribed"


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
        return {s.normalised: s for s in self.subscribers}


def normalise(address: str) -> str:
    """The form addresses are compared and recorded in: no surrounding space, lower-case domain."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else address


def check_address(address: str) -> str | None:
    """Why `address` cannot be mailed (syntax only, no DNS), or None when it can."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def read(path: Path) -> SubscriberList:
    """Read a subscriber CSV (UTF-8, a BOM tolerated); bad rows are collected, not raised.

    The file is streamed row by row: a 100,000-row list never sits in memory as text.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse(path, csv.reader(handle))
    except FileNotFoundError as exc:
        raise SubscriberError(
            f"subscriber list not found: {path}; pass --subscribers or set [email] subscribers",
            path,
        ) from exc
    except UnicodeDecodeError as exc:
        line = _line_of_byte(path, exc.start)
        raise SubscriberError(
            [Problem(path, line, "not UTF-8; save the list as UTF-8 CSV")]
        ) from exc


def _line_of_byte(path: Path, position: int) -> int | None:
    """The line holding the first byte that is not UTF-8 (the decoder's offset is per chunk)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data[: exc.start].count(b"\n") + 1
    return None


def _parse(path: Path, reader: Reader) -> SubscriberList:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise SubscriberError(
            [Problem(path, 1, "empty file; the first row must name the columns")]
        ) from None
    if "email" not in header:
        raise SubscriberError(
            [Problem(path, 1, f"no 'email' column (found: {', '.join(header) or 'nothing'}); "
                     f"the first row must name the columns: {', '.join(COLUMNS)}")]
        )  # fmt: skip
    unknown = [h for h in header if h not in COLUMNS]
    problems: list[Problem] = []
    if unknown:
        problems.append(
            Problem(path, 1, f"unknown column(s) ignored: {', '.join(unknown)}", "warning")
        )
    return _rows(path, reader, header, problems)


def _rows(path: Path, reader: Reader, header: list[str], warnings: list[Problem]) -> SubscriberList:
    good: list[Subscriber] = []
    bad: list[Problem] = list(warnings)
    duplicates: list[Problem] = []
    seen: dict[str, int] = {}
    topic_sets: dict[str, frozenset[str] | str] = {}
    line = 1
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        record = dict(zip(header, cells, strict=False))
        made = _subscriber(record, start, topic_sets)
        if isinstance(made, str):
            bad.append(Problem(path, start, made))
            continue
        first = seen.get(made.normalised)
        if first is not None:
            duplicates.append(
                Problem(
                    path, start, f"{made.email} repeats row {first}; it is sent once", "warning"
                )
            )
            continue
        seen[made.normalised] = start
        good.append(made)
    return SubscriberList(path, tuple(good), tuple(bad), tuple(duplicates))


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
    name = record.get("name", "").strip()
    if any(c in name for c in "\r\n\x00"):
        return f"the name of {email} contains a line break; put it on one line"
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
    normalised = normalise(email)
    return Subscriber(
        email=email,
        normalised=normalised if normalised != email else email,
        name=name,
        status=sys.intern(status),
        topics=topics,
        consent_at=consent_at,
        consent_source=sys.intern(record.get("consent_source", "").strip()),
        row=row,
    )


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
