"""The list kept in step with the ledger (`sync`), and exported safely for spreadsheets."""

from __future__ import annotations

import csv
from typing import TextIO

from innovate_news.audience.listfile import ListFile, Table
from innovate_news.audience.privacy import PREFIX, pseudonyms
from innovate_news.audience.subscribers import COLUMNS, normalise
from innovate_news.audience.tokens import Keyring
from innovate_news.store.ledger import Ledger

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUS_FOR = {"bounced": "bounced"}  # every other reason leaves the person "unsubscribed"


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a leading quote before anything formula-like."""
    if cell.startswith(FORMULA_START) or cell.lstrip(" ").startswith(FORMULA_START):
        return "'" + cell
    return cell


def _reasons(ledger: Ledger, keyring: Keyring, table: Table) -> dict[str, str]:
    """Suppression reason by normalised address, erased ones found through their pseudonyms."""
    reasons = {normalise(s.address): s.reason for s in ledger.suppressions()}
    if any(a.startswith(PREFIX) for a in reasons):
        for row in table.rows:
            address = table.address(row)
            if address not in reasons and any(
                normalise(p) in reasons for p in pseudonyms(keyring, address)
            ):
                reasons[address] = "erased"
    return reasons


def effective_status(table: Table, reasons: dict[str, str], address: str, status: str) -> str:
    """The status `send` acts on: a suppression wins over a subscribed row."""
    status = status.strip().lower() or "subscribed"
    reason = reasons.get(normalise(address))
    if reason and status == "subscribed":
        return STATUS_FOR.get(reason, "unsubscribed")
    return status


def sync(listfile: ListFile, ledger: Ledger, keyring: Keyring) -> int:
    """Write the suppressions into the list's status column atomically; rows changed."""
    with listfile.locked() as editor:
        table = editor.read()
        reasons = _reasons(ledger, keyring, table)
        changes = {}
        for number, row in enumerate(table.rows):
            status = table.get(row, "status")
            wanted = effective_status(table, reasons, table.address(row), status)
            if wanted != (status.strip().lower() or "subscribed"):
                changes[number] = wanted
        if not changes:
            return 0
        table = table.with_columns(("status",))
        rows = list(table.rows)
        for number, status in changes.items():
            rows[number] = table.changed(rows[number], {"status": status})
        editor.write(table.replace_rows(rows))
    return len(changes)


def export(
    listfile: ListFile, ledger: Ledger, keyring: Keyring, out: TextIO, subscribed_only: bool
) -> int:
    """The list (statuses as `send` sees them) as RFC 4180 CSV; rows written."""
    table = listfile.read()
    reasons = _reasons(ledger, keyring, table)
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    count = 0
    for row in table.rows:
        address = table.address(row)
        if not address:
            continue
        status = effective_status(table, reasons, address, table.get(row, "status"))
        if subscribed_only and status != "subscribed":
            continue
        cells = [table.get(row, c) for c in COLUMNS]
        cells[COLUMNS.index("status")] = status
        writer.writerow([neutralise(c) for c in cells])
        count += 1
    return count
