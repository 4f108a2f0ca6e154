"""Durable state: the database layer with its two backends (SQLite files in the state folder,
or one PostgreSQL database a team shares), the send ledger (deliveries and suppressions), the
one-sender-per-issue lock that lives beside it, and backup and restore.

Public names: database.Database, ledger.Ledger, ledger.FILE_NAME, locks.hold, backup.backup,
backup.restore, backup.Parts, reports.Report (what a provider's webhook asks of the ledger),
casefold.key (the one-row-per-mailbox rule the ledger files addresses by), backends.where
(where a store opens: its file, or the shared database), postgres (the only user of psycopg),
pgschema (the shared database's schema steps), admin (`store status` and `store copy`),
handovers (the ledger's one statement per batch before and after a hand-over).
"""

__all__ = [
    "admin",
    "backends",
    "backup",
    "casefold",
    "database",
    "handovers",
    "ledger",
    "locks",
    "pgschema",
    "postgres",
    "reports",
    "versions",
]
