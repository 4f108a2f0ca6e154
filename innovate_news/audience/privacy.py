"""One person's data: everything held about them (subject access), and erasing them.

An erased address is replaced in the ledger by a keyed hash of it (HMAC-SHA256 with the link
signing secret, one per key so a rotated key still recognises it), and that hash is kept as a
suppression: the address itself is gone, but an import that brings it back is recognised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from innovate_news import layout
from innovate_news.audience.listfile import ListFile
from innovate_news.audience.signups import Signups
from innovate_news.audience.subscribers import normalise, tidy
from innovate_news.audience.tokens import Keyring
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger

PREFIX = "erased:"


def pseudonyms(keyring: Keyring, address: str) -> list[str]:
    """The keyed hashes standing for `address` (in any case) once erased; the first is written."""
    data = b"erasure\x00" + address.lower().encode("utf-8")
    return [
        f"{PREFIX}{kid}:{hmac.new(secret, data, hashlib.sha256).hexdigest()}"
        for kid, secret in keyring.keys
    ]


def erased(keyring: Keyring, address: str, suppressed: Iterable[str] | Ledger) -> bool:
    """Whether `address` was erased (is suppressed under one of its pseudonyms)."""
    if isinstance(suppressed, Ledger):
        return any(suppressed.is_suppressed(p) for p in pseudonyms(keyring, address))
    found = suppressed if isinstance(suppressed, set | frozenset) else set(suppressed)
    return any(p in found for p in pseudonyms(keyring, address))


@dataclass(frozen=True)
class Erasure:
    """What erasing one person removed or replaced."""

    list_rows: int
    signups: int
    ledger_rows: int
    outbox_files: int


@dataclass(frozen=True)
class Stores:
    """Everywhere the list service keeps personal data."""

    settings: Settings
    keyring: Keyring
    listfile: ListFile
    ledger: Ledger
    signups: Signups

    def outbox_files(self, address: str, spellings: Iterable[str] = ()) -> list[Path]:
        """Copies written for `address`, in any case, by the outbox provider (issues, tests,
        confirmations). A copy's file is named after the address as written; a name that had
        to be hashed is found only for the `spellings` given (those the list holds)."""
        folder = self.settings.folder("outbox")
        if not folder.is_dir():
            return []
        names = {normalise(layout.outbox_file(tidy(a))) for a in (address, *spellings)}
        candidates = [*folder.glob("*/*.eml"), *folder.glob("*/test/*.eml")]
        return sorted(p for p in candidates if normalise(p.name) in names and p.is_file())


def erase(stores: Stores, address: str) -> Erasure:
    """Remove `address` from the list, sign-ups, outbox; pseudonymise it in the ledger.

    Each step can be repeated, so a run stopped half-way is finished by running it again.
    """
    key = normalise(address)  # every spelling of the address is the same person
    with stores.listfile.locked() as editor:
        table = editor.read()
        kept = [row for row in table.rows if table.address(row) != key]
        spellings = {table.get(row, "email") for row in table.rows if table.address(row) == key}
        removed = len(table.rows) - len(kept)
        if removed:
            editor.write(table.replace_rows(kept))
    signups = stores.signups.erase(address)
    pseudonym = pseudonyms(stores.keyring, address)[0]
    ledger_rows = stores.ledger.erase(address, pseudonym, "erase")
    files = stores.outbox_files(address, spellings)
    for path in files:
        path.unlink(missing_ok=True)
    return Erasure(removed, signups, ledger_rows, len(files))


def subject_access(stores: Stores, address: str, now: dt.datetime) -> dict[str, Any]:
    """Everything held about `address`, as plain data for JSON."""
    table = stores.listfile.read()
    rows, spellings = [], []
    for row in table.rows:
        if table.address(row) == normalise(address):
            cells = {name: table.get(row, name.strip().lower()) for name in table.header}
            rows.append({"row": row.line, **cells})
            spellings.append(table.get(row, "email"))
    held = stores.ledger.about(address)
    root = stores.settings.root
    return {
        "address": address,
        "generated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "subscriber_list": {"path": str(stores.listfile.path), "rows": rows},
        "suppressions": held["suppressions"],
        "erased": erased(stores.keyring, address, stores.ledger),
        "deliveries": held["deliveries"],
        "test_sends": held["test_sends"],
        "signups": [s.as_dict() for s in stores.signups.about(address)],
        "outbox_files": [_shown(p, root) for p in stores.outbox_files(address, spellings)],
    }


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
