"""Which rendering of an issue each copy went out in, so an issue edited after a partial send
is noticed before the rest of the list gets a different version.

A version is one variant (topic selection) of an issue as rendered: subject, preheader, HTML
and text, with `{{field}}` placeholders where each reader's details go. Its digest is recorded
with each recipient's row when their copy is marked "sending", and the version itself when
its first copy goes out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from innovate_news.store.database import Database, Engine, Tx

RECEIVED = ("sent", "sending", "unknown")  # states in which a copy may be in someone's inbox
SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    issue TEXT NOT NULL,
    variant TEXT NOT NULL,
    digest TEXT NOT NULL,
    subject TEXT NOT NULL,
    preheader TEXT NOT NULL,
    text TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (issue, variant, digest)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Version:
    """One rendering of one variant of an issue: what its copies said, and its digest.

    `text` is the plain-text part with `{{field}}` placeholders (no one's details), kept so a
    later rendering can be shown against it.
    """

    variant: str
    digest: str
    subject: str
    preheader: str
    text: str
    first_at: str = ""

    @classmethod
    def of(cls, variant: str, subject: str, preheader: str, html: str, text: str) -> Version:
        """The digest covers every part a reader sees, and the variant, so that no two variants
        share one; placeholders must be `{{field}}`."""
        parts = "\x00".join((variant, subject, preheader, html, text)).encode("utf-8")
        return cls(variant, hashlib.sha256(parts).hexdigest()[:20], subject, preheader, text)


class VersionRecords(Database):
    """The ledger's part that keeps versions (`deliveries.version` and the `versions` table)."""

    def __init__(self, where: Path | Engine, schema: str, durable: bool):
        super().__init__(where, schema + SCHEMA, durable)
        if self.backend == "sqlite":  # PostgreSQL's schema always had the column
            self._add_version_column()
        # The version each planned copy is in this run, by address (see `stamp`).
        self._stamps: dict[str, Mapping[str, Version]] = {}
        # (issue, digest) of the versions this run has recorded (see `_recorded`).
        self._seen: set[tuple[str, str]] = set()

    def _add_version_column(self) -> None:
        """A ledger made before versions were kept gains the column (old rows: unrecorded)."""
        if any(row[1] == "version" for row in self._read("PRAGMA table_info(deliveries)")):
            return
        with self._write() as db:  # under the write lock: a second opener may have done it
            names = {row[1] for row in db.execute("PRAGMA table_info(deliveries)").fetchall()}
            if "version" not in names:
                db.execute("ALTER TABLE deliveries ADD COLUMN version TEXT NOT NULL DEFAULT ''")

    def stamp(self, issue: str, versions: Mapping[str, Version]) -> None:
        """Say which version each address's copy is in for this run (empty: forget them).

        The sender marks addresses only; knowing their versions here lets `begin` commit each
        mark with its version, and record a version when its first copy goes out. Addresses
        match in any case, as the ledger's rows do.
        """
        # Kept as given, not copied with folded keys: at 100,000 recipients a copy costs tens
        # of MiB. Most lookups hit as they are (the sender marks the addresses the plan holds).
        self._stamps[issue] = versions

    def _stamped(self, issue: str, address: str) -> Version | None:
        stamps = self._stamps.get(issue, {})
        found = stamps.get(address)
        return found if found is not None else stamps.get(address.lower())

    def _recorded(self, issue: str, digest: str) -> bool:
        """Whether this run has recorded the version: each run records a version with its
        first copies (its `last_at` is then this run's), and later batches need not."""
        return (issue, digest) in self._seen

    def _remember(self, issue: str, used: Mapping[str, Version]) -> None:
        self._seen |= {(issue, digest) for digest in used}

    @staticmethod
    def _record_versions(db: Tx, issue: str, used: Mapping[str, Version], now: str) -> None:
        """Inside `begin`'s transaction: the versions its marks are in (`used`, by digest)."""
        db.executemany(
            "INSERT INTO versions (issue, variant, digest, subject, preheader, text, first_at, "
            "last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issue, variant, digest) "
            "DO UPDATE SET last_at = excluded.last_at",
            ((issue, v.variant, v.digest, v.subject, v.preheader, v.text, now, now)
             for v in used.values()),
        )  # fmt: skip

    def versions(self, issue: str) -> list[Version]:
        """Every version copies of `issue` went out in, oldest first."""
        rows = self._read(
            "SELECT variant, digest, subject, preheader, text, first_at FROM versions "
            "WHERE issue = ? ORDER BY first_at",
            (issue,),
        )
        return [Version(*map(str, row)) for row in rows]

    def current_versions(self, issue: str) -> dict[str, Version]:
        """Per variant, the version of its latest copies that may have arrived."""
        marks = ",".join("?" * len(RECEIVED))
        rows = self._read(
            "SELECT v.variant, v.digest, v.subject, v.preheader, v.text, v.first_at "  # noqa: S608 (placeholders only)
            "FROM versions v WHERE v.issue = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE "
            f"d.issue = v.issue AND d.version = v.digest AND d.state IN ({marks})) "
            "ORDER BY v.last_at",
            (issue, *RECEIVED),
        )
        return {str(row[0]): Version(*map(str, row)) for row in rows}

    def version_counts(self, issue: str) -> dict[str, dict[str, int]]:
        """Per version digest ('' for copies marked before versions were kept), rows by state."""
        rows = self._read(
            "SELECT version, state, COUNT(*) FROM deliveries WHERE issue = ? "
            "GROUP BY version, state",
            (issue,),
        )
        out: dict[str, dict[str, int]] = {}
        for digest, state, count in rows:
            out.setdefault(str(digest), {})[str(state)] = int(str(count))
        return out
