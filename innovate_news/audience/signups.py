"""Pending sign-ups, the consent they record, and the sign-up rate limits (SQLite, state folder).

A sign-up is stored before its confirmation email leaves; confirming marks it used, once.
Confirmed rows stay as the evidence of consent (what text, which version, when) until the
person is erased; unconfirmed ones are dropped once their link has expired.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from innovate_news.settings import Settings
from innovate_news.store import backends
from innovate_news.store.database import Database, Engine

FILE_NAME = "signups.sqlite3"
LIFETIME = dt.timedelta(days=7)  # how long a confirmation link works
WINDOW = dt.timedelta(hours=1)  # the per-client sign-up rate is counted over this
PER_ADDRESS = 3  # confirmation emails one address can be sent per day, whoever asks
SCHEMA = """
CREATE TABLE IF NOT EXISTS signups (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL COLLATE NOCASE,  -- one person, whatever case they type
    name TEXT NOT NULL,
    topics TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    consent_text TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    confirmed_at TEXT
);
CREATE INDEX IF NOT EXISTS signups_address ON signups (address);
CREATE TABLE IF NOT EXISTS hits (
    client TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hits_client ON hits (client, at);
"""


@dataclass(frozen=True)
class Signup:
    """One request to join the list, pending until `confirmed_at` is set."""

    id: str
    address: str
    name: str
    topics: str  # as the CSV has them: semicolon-separated, empty for every topic
    consent_version: str
    consent_text: str
    requested_at: str
    expires_at: str
    confirmed_at: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Signups(Database):
    """The sign-up database; one connection shared by the threads of one server."""

    what = "the sign-up database"

    def __init__(self, where: Path | Engine):
        super().__init__(where, SCHEMA, durable=True)  # a sign-up is acknowledged on disk

    @classmethod
    def open(cls, settings: Settings) -> Signups:
        """The sign-ups of `[store] backend`: a file in the state folder, or the shared database."""
        return cls(backends.where(settings, FILE_NAME, cls.what))

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[Signup]:
        return [Signup(*row) for row in self._read(sql, params)]

    def allow(self, client: str, now: dt.datetime, limit: int) -> bool:
        """Count one sign-up request from `client`; False when it is over `limit` an hour."""
        since = _iso(now - WINDOW)
        with self._write() as db:
            db.execute("DELETE FROM hits WHERE at < ?", (since,))
            (count,) = db.execute(
                "SELECT COUNT(*) FROM hits WHERE client = ? AND at >= ?", (client, since)
            ).fetchone()
            if count >= limit:
                return False
            db.execute("INSERT INTO hits (client, at) VALUES (?, ?)", (client, _iso(now)))
            return True

    def add(
        self,
        address: str,
        name: str,
        topics: str,
        consent: tuple[str, str],
        now: dt.datetime,
    ) -> Signup | None:
        """Store a pending sign-up; None when `address` has had its daily share of emails."""
        version, text = consent
        signup = Signup(
            id=secrets.token_urlsafe(16),
            address=address,
            name=name,
            topics=topics,
            consent_version=version,
            consent_text=text,
            requested_at=_iso(now),
            expires_at=_iso(now + LIFETIME),
        )
        with self._write() as db:
            # Links that can no longer be confirmed are personal data with no purpose left.
            db.execute(
                "DELETE FROM signups WHERE confirmed_at IS NULL AND expires_at < ?", (_iso(now),)
            )
            (recent,) = db.execute(
                "SELECT COUNT(*) FROM signups WHERE address = ? AND requested_at >= ?",
                (address, _iso(now - dt.timedelta(days=1))),
            ).fetchone()
            if recent >= PER_ADDRESS:
                return None
            db.execute(
                "INSERT INTO signups VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                tuple(asdict(signup).values())[:8],
            )
        return signup

    def get(self, signup_id: str) -> Signup | None:
        found = self._rows("SELECT * FROM signups WHERE id = ?", (signup_id,))
        return found[0] if found else None

    def confirm(self, signup_id: str, now: dt.datetime) -> bool:
        """Mark a sign-up used; False when it already was (a link works once)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE signups SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL",
                (_iso(now), signup_id),
            )
            return cursor.rowcount == 1

    def about(self, address: str) -> list[Signup]:
        """Every sign-up of `address`, pending or confirmed (for a subject access request)."""
        return self._rows(
            "SELECT * FROM signups WHERE address = ? ORDER BY requested_at", (address,)
        )

    def erase(self, address: str) -> int:
        """Forget every sign-up of `address`; returns how many there were."""
        with self._write() as db:
            return db.execute("DELETE FROM signups WHERE address = ?", (address,)).rowcount
