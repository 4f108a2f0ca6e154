"""Importing people: Mailchimp audience exports and plain CSVs, merged into the list.

An import never brings back anyone the list has lost: a suppressed (or erased) address, or a
row already unsubscribed or bounced, stays as it is. Unsubscribed and cleaned people in an
export become suppressions, so an older export imported later cannot resubscribe them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from innovate_news.audience.listfile import ListFile, Row, Table
from innovate_news.audience.privacy import erased
from innovate_news.audience.subscribers import (
    STATUSES,
    check_address,
    control_problem,
    normalise,
    tidy,
)
from innovate_news.audience.tokens import Keyring
from innovate_news.content.posts import KINDS
from innovate_news.errors import Problem, SubscriberError
from innovate_news.store.ledger import Ledger

MAILCHIMP_EMAIL = "email address"
MAILCHIMP_TIMES = ("confirm_time", "optin_time")  # when consent was given, best first
NAMED = 20  # rows without consent evidence named in the report; the rest are counted


@dataclass(frozen=True)
class Incoming:
    """One person from an import file."""

    address: str
    name: str
    status: str
    topics: str
    consent_at: str
    consent_source: str
    where: str


@dataclass
class Report:
    """What an import did (or, with dry_run, would do)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_out: int = 0  # suppressed, erased, unsubscribed or bounced: not resubscribed
    suppressed: int = 0  # unsubscribed or cleaned in the source: now suppressions
    duplicates: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Subscribed rows the list now holds with no evidence of consent (no consent time: a
    # Mailchimp CONFIRM_TIME/OPTIN_TIME, or a plain CSV's consent_at), as "file:line address".
    no_consent: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.kept_out} kept out (suppressed or unsubscribed), {self.suppressed} "
            f"suppressed from the source, {self.duplicates} duplicate(s), "
            f"{len(self.problems)} invalid row(s)."
        )
        if self.no_consent:
            shown = ", ".join(self.no_consent[:NAMED])
            more = len(self.no_consent) - NAMED
            text += (
                f" Warning: {len(self.no_consent)} row(s) without consent evidence (no "
                f"consent time): {shown}{f' and {more} more' if more > 0 else ''}; find "
                "when and how they agreed before mailing them."
            )
        return text


def read_source(path: Path) -> tuple[list[Incoming], list[Problem]]:
    """People from a Mailchimp export or a plain CSV (the list's own columns)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise SubscriberError(f"import file not found: {path}", path) from exc
    except UnicodeDecodeError as exc:
        raise SubscriberError("not UTF-8; save it as UTF-8 CSV and import again", path) from exc
    # Not str.splitlines: it also breaks at VT, FF and other controls inside a cell.
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if MAILCHIMP_EMAIL in header:
        convert = _mailchimp(path, header)
    elif "email" in header:
        convert = _plain(path)
    else:
        raise SubscriberError(
            [Problem(path, 1, "neither a Mailchimp export ('Email Address' column) nor a list "
                     "with an 'email' column")]
        )  # fmt: skip
    people, problems = [], []
    line = 1
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        made = convert(dict(zip(header, cells, strict=False)), f"{path}:{start}")
        if isinstance(made, str):
            problems.append(Problem(path, start, made))
        else:
            people.append(made)
    return people, problems


Converter = Callable[[dict[str, str], str], Incoming | str]


def _mailchimp(path: Path, header: Sequence[str]) -> Converter:
    # Mailchimp exports each status to its own file; the columns say which one this is.
    status = "subscribed"
    if "unsub_time" in header:
        status = "unsubscribed"
    elif "clean_time" in header:
        status = "bounced"

    def convert(record: dict[str, str], where: str) -> Incoming | str:
        name = " ".join(
            record.get(k, "").strip() for k in ("first name", "last name") if record.get(k)
        )
        when = next((record[k] for k in MAILCHIMP_TIMES if record.get(k, "").strip()), "")
        source = "Mailchimp import" + (" (double opt-in)" if record.get("confirm_time") else "")
        return _checked(
            Incoming(record.get(MAILCHIMP_EMAIL, "").strip(), name, status, "",
                     _mailchimp_time(when), source, where)
        )  # fmt: skip

    return convert


def _mailchimp_time(text: str) -> str:
    """Mailchimp's '2020-03-05 09:12:00' (UTC) as the list writes times."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(path: Path) -> Converter:
    def convert(record: dict[str, str], where: str) -> Incoming | str:
        return _checked(
            Incoming(
                record.get("email", "").strip(),
                record.get("name", "").strip(),
                record.get("status", "").strip().lower() or "subscribed",
                record.get("topics", "").strip().lower(),
                record.get("consent_at", "").strip(),
                record.get("consent_source", "").strip() or f"import of {path.name}",
                where,
            )
        )

    return convert


def _checked(person: Incoming) -> Incoming | str:
    if not person.address:
        return "empty email"
    if why := check_address(person.address):
        return f"invalid email {person.address!r}: {why}"
    for label, value in (("name", person.name), ("status", person.status),
                         ("topics", person.topics), ("consent time", person.consent_at),
                         ("consent source", person.consent_source)):  # fmt: skip
        # The rule the list is read by: a row imported here must not fail `check` later.
        if why := control_problem(label, value, person.address):
            return why
    if person.status not in STATUSES:
        return f"unknown status {person.status!r}; use one of: {', '.join(STATUSES)}"
    unknown = {t.strip() for t in person.topics.split(";") if t.strip()} - set(KINDS)
    if unknown:
        return f"unknown topic(s) {', '.join(sorted(unknown))}; use some of: {';'.join(KINDS)}"
    return replace(person, address=tidy(person.address))  # kept as written, for sending


def merge(
    table: Table, people: Iterable[Incoming], blocked: Callable[[str], bool], report: Report
) -> tuple[Table, list[Incoming]]:
    """The list with `people` merged in, and those to add to the suppressions."""
    table = table.with_columns(("name", "status", "topics", "consent_at", "consent_source"))
    rows = list(table.rows)
    where: dict[str, int] = {}
    for index, row in enumerate(rows):
        where.setdefault(table.address(row).lower(), index)
    seen: set[str] = set()
    to_suppress = []
    for person in people:
        key = normalise(person.address)  # one person, whatever the case of their address
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        number = where.get(key)
        if person.status != "subscribed":
            to_suppress.append(person)
            if number is not None and _status(table, rows[number]) == "subscribed":
                rows[number] = table.changed(rows[number], {"status": person.status})
                report.updated += 1
            continue
        if blocked(person.address) or (
            number is not None and _status(table, rows[number]) != "subscribed"
        ):
            report.kept_out += 1
        elif number is None:
            where[key] = len(rows)
            rows.append(table.make(_values(person)))
            report.added += 1
            _flag_consent(table, rows[-1], person, report)
        else:
            before = rows[number]
            rows[number] = _filled(table, before, person)
            report.updated += rows[number] is not before
            report.unchanged += rows[number] is before
            _flag_consent(table, rows[number], person, report)
    return table.replace_rows(rows), to_suppress


def _flag_consent(table: Table, row: Row, person: Incoming, report: Report) -> None:
    """Note a subscribed row the import leaves with no consent time."""
    if _status(table, row) == "subscribed" and not table.get(row, "consent_at").strip():
        report.no_consent.append(f"{person.where} {person.address}")


def _status(table: Table, row: Row) -> str:
    return table.get(row, "status").strip().lower() or "subscribed"


def _values(person: Incoming) -> dict[str, str]:
    return {
        "email": person.address,
        "name": person.name,
        "status": "subscribed",
        "topics": person.topics,
        "consent_at": person.consent_at,
        "consent_source": person.consent_source,
    }


def _filled(table: Table, row: Row, person: Incoming) -> Row:
    """Blanks filled in from the import; what the list already says is kept."""
    values = {
        k: v
        for k, v in _values(person).items()
        if k in ("name", "consent_at", "consent_source") and v and not table.get(row, k).strip()
    }
    return table.changed(row, values) if values else row


def import_files(
    listfile: ListFile, ledger: Ledger, keyring: Keyring, paths: Sequence[Path], dry_run: bool
) -> Report:
    """Merge every file into the list in one atomic rewrite (nothing written on a dry run)."""
    report = Report()
    people: list[Incoming] = []
    for path in paths:
        found, problems = read_source(path)
        people += found
        report.problems += problems
    suppressed = ledger.suppressed()
    folded = {a.lower() for a in suppressed}

    def blocked(address: str) -> bool:
        return address.lower() in folded or erased(keyring, address, suppressed)

    with listfile.locked() as editor:
        table = editor.read()
        merged, to_suppress = merge(table, people, blocked, report)
        if dry_run:
            report.suppressed = sum(1 for p in to_suppress if p.address.lower() not in folded)
            return report
        if report.added or report.updated:
            editor.write(merged)
    for person in to_suppress:
        reason = "bounced" if person.status == "bounced" else "unsubscribed"
        report.suppressed += ledger.suppress(person.address, reason, f"import {person.where}")
    return report
