"""The send ledger (SQLite in the state folder): who got which issue, and who must never get one.

Each recipient's state is committed before the hand-over to the provider ("sending") and the
result after it, so a crash in between leaves "sending", which the next run turns into
"unknown" and does not resend unless asked to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from innovate_news.errors import LedgerError
from innovate_news.mail import Receipt
from innovate_news.secrecy import redact
from innovate_news.settings import Settings
from innovate_news.store import backends, casefold, handovers, locks
from innovate_news.store.casefold import key
from innovate_news.store.database import Engine, Tx
from innovate_news.store.reports import PREFER_CHOICE, SUPPRESS, Reports
from innovate_news.store.versions import Version, VersionRecords

FILE_NAME = "ledger.sqlite3"
STATES = ("pending", "sending", "sent", "failed", "deferred", "unknown")
REASONS = ("unsubscribed", "bounced", "complained", "manual", "erased")
_CHUNK = 1000  # addresses per UPDATE in `begin` and `finish` (SQLite allows 32,766 variables)

SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    issue TEXT PRIMARY KEY,
    snapshot_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    issue TEXT NOT NULL,
    address TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    provider TEXT NOT NULL DEFAULT '',
    provider_id TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    version TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (issue, address)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID;
-- Mailbox names are case-insensitive in practice: a suppression matches in any case.
CREATE INDEX IF NOT EXISTS suppressions_nocase ON suppressions (address COLLATE NOCASE);
-- Tokens of signed webhook requests, kept until their signature is stale (store.reports).
CREATE TABLE IF NOT EXISTS webhook_tokens (
    provider TEXT NOT NULL,
    token TEXT NOT NULL,
    until TEXT NOT NULL,
    PRIMARY KEY (provider, token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_sends (
    id INTEGER PRIMARY KEY,
    issue TEXT NOT NULL,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    error TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Delivery:
    """One recipient's row for one issue."""

    address: str
    state: str
    attempts: int
    provider: str
    provider_id: str
    last_error: str
    updated_at: str


@dataclass(frozen=True)
class Suppression:
    address: str
    reason: str
    source: str
    at: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class Ledger(VersionRecords, Reports):
    """A SQLite file (`path`) or the shared database (an `Engine`, see store.backends), safe to
    share between the threads of one sender."""

    what = "the ledger"

    def __init__(self, where: Path | Engine, durable: bool = False):
        super().__init__(where, SCHEMA, durable)
        # Rows an older version filed under a mixed-case address move to their key, once
        # (PostgreSQL's rows were always filed by key).
        if self.backend == "sqlite" and not self._read(casefold.DONE):
            with self._write() as db:
                casefold.fold(db)

    @classmethod
    def open(cls, settings: Settings, durable: bool = False) -> Ledger:
        """The ledger of `[store] backend`; `durable` (the list service): each commit synced."""
        return cls(backends.where(settings, FILE_NAME, cls.what), durable)

    def lock(self, issue: str) -> contextlib.AbstractContextManager[None]:
        """Hold the send lock of `issue` (see store.locks); a second holder fails at once."""
        if self.path is None:
            return locks.hold_shared(self.engine, issue)
        return locks.hold(self.path.parent / "locks", issue)

    # Snapshot and planning ---------------------------------------------------------------

    def has_snapshot(self, issue: str) -> bool:
        return bool(self._read("SELECT 1 FROM issues WHERE issue = ?", (issue,)))

    def add(self, issue: str, addresses: Iterable[str]) -> int:
        """Add recipients as pending (the snapshot at first send, or new ones later)."""
        now = _now()
        with self._write() as db:
            db.execute(
                "INSERT INTO issues (issue, snapshot_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (issue, now),
            )
            (start,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM deliveries WHERE issue = ?", (issue,)
            ).fetchone()
            if not start:  # the issue's first snapshot: nothing to conflict with
                return self._add_first(db, issue, addresses, now)
            rows = [(key(a), start + i) for i, a in enumerate(addresses, start=1)]
            added = 0
            for first in range(0, len(rows), _CHUNK):
                # Many rows per INSERT: on PostgreSQL each statement is a round trip.
                chunk = rows[first : first + _CHUNK]
                added += db.execute(
                    "INSERT INTO deliveries (issue, address, seq, state, added_at, updated_at) "  # noqa: S608 (placeholders only)
                    f"VALUES {','.join(['(?, ?, ?, ?, ?, ?)'] * len(chunk))} "
                    "ON CONFLICT DO NOTHING",
                    [cell for k, seq in chunk for cell in (issue, k, seq, "pending", now, now)],
                ).rowcount
            self._analyse(db, added)
            return added

    def _add_first(self, db: Tx, issue: str, addresses: Iterable[str], now: str) -> int:
        """`add` of an issue with no rows yet: one row per mailbox, in one go."""
        keys = list(dict.fromkeys(key(a) for a in addresses))
        rows = [(issue, k, seq, "pending", now, now) for seq, k in enumerate(keys, start=1)]
        columns = ("issue", "address", "seq", "state", "added_at", "updated_at")
        self.engine.insert_new(db, "deliveries", columns, rows)
        self._analyse(db, len(rows))
        return len(rows)

    def _analyse(self, db: Tx, added: int) -> None:
        if self.backend == "postgresql" and added > 1000:
            # Fresh statistics: with the table's old ones, PostgreSQL's planner reads every
            # row of the issue for each batch `begin` marks (4.7 ms a batch at 10,000).
            db.execute("ANALYZE deliveries")

    def states(self, issue: str) -> dict[str, str]:
        """Every recipient of `issue` and their state, in snapshot order."""
        rows = self._read(
            "SELECT address, state FROM deliveries WHERE issue = ? ORDER BY seq", (issue,)
        )
        return {str(a): str(s) for a, s in rows}

    def recover(self, issue: str) -> int:
        """Turn hand-overs a crashed run left open into `unknown`; call with the lock held."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'unknown', updated_at = ?, last_error = "
                "'the run stopped during the hand-over; it may or may not have been sent' "
                "WHERE issue = ? AND state = 'sending'",
                (_now(), issue),
            )
            return cursor.rowcount

    # Hand-overs --------------------------------------------------------------------------

    def begin(
        self, issue: str, addresses: Sequence[str], provider: str, allowed: Sequence[str]
    ) -> list[str]:
        """Mark recipients `sending`, committed, before their hand-over; returns those marked.

        Only rows in an `allowed` state move, and a suppressed address never does: this is the
        last check before a message leaves, whatever the plan said.
        """
        now = _now()
        rows: dict[str, str] = {}  # key -> digest of the version its copy is in ('' unknown)
        versions: dict[str, Version] = {}
        for address in addresses:
            version = self._stamped(issue, address)
            rows[key(address)] = version.digest if version else ""
            if version:
                versions[version.digest] = version
        new = {d: v for d, v in versions.items() if not self._recorded(issue, d)}
        if not new and len(rows) <= _CHUNK:
            # The usual batch: one statement, committed on its own (a PostgreSQL server is one
            # round trip away, where a transaction takes three).
            marked = self._apply(*handovers.marking(issue, rows, provider, now, allowed))
            moved = {str(row[0]) for row in marked}
        else:
            # A version's first copies: its record commits with their marks.
            moved = set()
            items = list(rows.items())
            with self._write() as db:
                for start in range(0, len(items), _CHUNK):
                    chunk = dict(items[start : start + _CHUNK])
                    marking = handovers.marking(issue, chunk, provider, now, allowed)
                    moved |= {str(r[0]) for r in db.execute(*marking).fetchall()}
                used = {d: v for d, v in new.items() if any(rows[k] == d for k in moved)}
                self._record_versions(db, issue, used, now)
            self._remember(issue, used)
        return [address for address in addresses if key(address) in moved]

    def finish(self, issue: str, receipts: Sequence[Receipt]) -> None:
        """Record what the provider said, and suppress addresses it reported dead."""
        now = _now()
        latest = {key(r.address): r for r in receipts}  # the last word on an address counts
        rows = [(k, r.status, r.provider_id, redact(r.error)) for k, r in latest.items()]
        dead = [(r.address, r.suppress, f"send {issue}", now) for r in receipts if r.suppress]
        if not dead and len(rows) <= _CHUNK:
            self._apply(*handovers.recording(issue, rows, now))
            return
        with self._write() as db:
            for start in range(0, len(rows), _CHUNK):
                db.execute(*handovers.recording(issue, rows[start : start + _CHUNK], now))
            db.executemany(SUPPRESS, dead)

    def release(self, issue: str, addresses: Sequence[str], state: str, error: str) -> None:
        """Put recipients back (nothing was handed over) as `pending` or `deferred`."""
        now = _now()
        with self._write() as db:
            db.executemany(
                "UPDATE deliveries SET state = ?, last_error = ?, updated_at = ?, "
                "attempts = CASE WHEN ? = 'pending' THEN attempts - 1 ELSE attempts END "
                "WHERE issue = ? AND address = ? AND state = 'sending'",
                ((state, redact(error), now, state, issue, key(a)) for a in addresses),
            )

    def sent_since(self, since: dt.datetime, provider: str) -> int:
        """Messages handed to `provider` since `since` (for a daily cap across runs)."""
        rows = self._read(
            "SELECT COUNT(*) FROM deliveries WHERE sent_at >= ? AND provider = ?",
            (since.astimezone(dt.UTC).isoformat(timespec="microseconds"), provider),
        )
        return int(str(rows[0][0]))

    def nth_sent_since(self, since: dt.datetime, provider: str, n: int) -> dt.datetime | None:
        """When the (n+1)th oldest message handed to `provider` since `since` went out (for
        when a cap has room again), or None if there are not that many."""
        rows = self._read(
            "SELECT sent_at FROM deliveries WHERE sent_at >= ? AND provider = ? "
            "ORDER BY sent_at LIMIT 1 OFFSET ?",
            (since.astimezone(dt.UTC).isoformat(timespec="microseconds"), provider, n),
        )
        return dt.datetime.fromisoformat(str(rows[0][0])) if rows else None

    def record_test(self, issue: str, provider: str, receipt: Receipt) -> None:
        """A --to test send: kept apart from the list's rows."""
        with self._write() as db:
            db.execute(
                "INSERT INTO test_sends (issue, address, state, provider, provider_id, error, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    issue,
                    receipt.address,
                    receipt.status,
                    provider,
                    receipt.provider_id,
                    redact(receipt.error),
                    _now(),
                ),
            )

    # Reporting ---------------------------------------------------------------------------

    def counts(self, issue: str) -> dict[str, int]:
        rows = self._read(
            "SELECT state, COUNT(*) FROM deliveries WHERE issue = ? GROUP BY state", (issue,)
        )
        found = {str(s): int(str(n)) for s, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    def deliveries(self, issue: str, states: Sequence[str] = STATES) -> list[Delivery]:
        marks = ",".join("?" * len(states))
        rows = self._read(
            "SELECT address, state, attempts, provider, provider_id, last_error, updated_at "  # noqa: S608 (placeholders only)
            f"FROM deliveries WHERE issue = ? AND state IN ({marks}) ORDER BY seq",
            (issue, *states),
        )
        return [
            Delivery(str(a), str(s), int(str(n)), str(p), str(i), str(e), str(u))
            for a, s, n, p, i, e, u in rows
        ]

    def test_sends(self, issue: str) -> list[dict[str, str]]:
        rows = self._read(
            "SELECT address, state, provider, at FROM test_sends WHERE issue = ? ORDER BY id",
            (issue,),
        )
        return [
            dict(zip(("address", "state", "provider", "at"), map(str, r), strict=True))
            for r in rows
        ]

    # Suppressions ------------------------------------------------------------------------

    def suppress(self, address: str, reason: str, source: str) -> bool:
        """Never mail `address` again; False when it was already suppressed (an unsubscribe
        or complaint still takes the place of a bounce or manual suppression: see reports)."""
        if reason not in REASONS:
            raise LedgerError(f"unknown suppression reason {reason!r}; use one of {REASONS}")
        now = _now()
        with self._write() as db:
            cursor = db.execute(SUPPRESS, (address, reason, source, now))
            if cursor.rowcount > 0:
                return True
            db.execute(PREFER_CHOICE, (reason, source, now, address, reason))
            return False

    def is_suppressed(self, address: str) -> bool:
        sql = "SELECT 1 FROM suppressions WHERE address = ? COLLATE NOCASE"
        return bool(self._read(sql, (address,)))

    def suppressions(self) -> list[Suppression]:
        rows = self._read("SELECT address, reason, source, at FROM suppressions ORDER BY at")
        return [Suppression(*map(str, row)) for row in rows]

    def suppressed(self) -> set[str]:
        return {str(a) for (a,) in self._read("SELECT address FROM suppressions")}

    def suppression_reasons(self) -> dict[str, str]:
        """Each suppressed address, lower-cased (they match in any case), and its reason."""
        rows = self._read("SELECT address, reason FROM suppressions ORDER BY at")
        return {str(a).lower(): str(r) for a, r in rows}

    def unsuppress(self, address: str) -> bool:
        """Lift the suppressions of `address`, in any case (only fresh consent may do this)."""
        with self._write() as db:
            sql = "DELETE FROM suppressions WHERE address = ? COLLATE NOCASE"
            return db.execute(sql, (address,)).rowcount > 0

    def about(self, address: str) -> dict[str, list[dict[str, str]]]:
        """Every row that names `address` in any case, by table (for a subject access request)."""
        columns = {
            "deliveries": "issue, state, attempts, provider, provider_id, last_error, added_at, "
            "updated_at, sent_at",
            "test_sends": "issue, state, provider, provider_id, error, at",
            "suppressions": "reason, source, at",
        }
        out = {}
        for table, names in columns.items():
            sql = f"SELECT {names} FROM {table} WHERE address = ? COLLATE NOCASE"  # noqa: S608 (fixed names)
            rows = self._read(sql, (address,))
            out[table] = [dict(zip(names.split(", "), map(str, r), strict=True)) for r in rows]
        return out

    def erase(self, address: str, pseudonym: str, source: str) -> int:
        """Put `pseudonym` (a keyed hash) wherever `address` was, and suppress the pseudonym."""
        with self._write() as db:
            changed = 0
            # A row the pseudonym already has for an issue gives way (one row per person).
            db.execute(
                "DELETE FROM deliveries WHERE address = ? AND issue IN (SELECT issue FROM "
                "deliveries WHERE address = ? COLLATE NOCASE)",
                (pseudonym, address),
            )
            for table in ("deliveries", "test_sends"):
                sql = f"UPDATE {table} SET address = ? WHERE address = ? COLLATE NOCASE"  # noqa: S608 (fixed names)
                changed += db.execute(sql, (pseudonym, address)).rowcount
            sql = "DELETE FROM suppressions WHERE address = ? COLLATE NOCASE"
            changed += db.execute(sql, (address,)).rowcount
            db.execute(SUPPRESS, (pseudonym, "erased", source, _now()))
            return changed
