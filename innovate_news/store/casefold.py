"""One mailbox, one delivery row: addresses are filed lower-case, and older ledgers moved over.

A@Example.org and a@example.org are one person (audience.subscribers.normalise). Versions
before this rule filed a row under the address as the list spelt it, so a ledger may hold a
person in mixed case, or under two spellings when that version mailed both. Opening the
ledger moves such rows to their key, once (a table, `filed_by_key`, records that it was done,
so later opens cost one lookup); a rerun then finds the person's row whatever the list says
now, and a person already sent the issue under one spelling is never mailed again.
"""

from __future__ import annotations

from innovate_news.store.database import Tx

# Whether this ledger's rows were moved over already (new rows are always filed by key).
DONE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'filed_by_key'"
# Rows that may be filed under a mixed-case address: ASCII capitals, or anything not ASCII
# (SQLite's lower() folds ASCII only, so Python has the last word).
CANDIDATES = (
    "SELECT issue, address, state FROM deliveries "
    "WHERE address <> lower(address) OR address GLOB '*[^ -~]*'"
)
# Of two rows for one person and issue, the one furthest along is kept.
_RANK = {"pending": 1, "deferred": 2, "failed": 3, "unknown": 4, "sending": 4, "sent": 5}


def key(address: str) -> str:
    """The address a delivery row is filed under: lower-case throughout, the rule of
    audience.subscribers.normalise (which the store cannot import). Callers of the ledger
    may pass any spelling; `Ledger.begin` returns theirs."""
    return address.strip().lower()


def fold(db: Tx) -> int:
    """Inside a write transaction: file every delivery row under its key, and note that it is
    done; returns the rows moved or merged."""
    db.execute("CREATE TABLE IF NOT EXISTS filed_by_key (at TEXT)")
    changed = 0
    for issue, address, state in db.execute(CANDIDATES).fetchall():
        folded = key(address)
        if folded == address:
            continue
        where = "WHERE issue = ? AND address = ?"
        other = db.execute(f"SELECT state FROM deliveries {where}", (issue, folded)).fetchone()  # noqa: S608 (fixed text)
        if other is not None and _RANK.get(other[0], 0) >= _RANK.get(state, 0):
            db.execute(f"DELETE FROM deliveries {where}", (issue, address))  # noqa: S608 (fixed text)
        else:
            db.execute(f"DELETE FROM deliveries {where}", (issue, folded))  # noqa: S608 (fixed text)
            db.execute(f"UPDATE deliveries SET address = ? {where}", (folded, issue, address))  # noqa: S608 (fixed text)
        changed += 1
    return changed
