"""Durable state in the state folder: the SQLite layer, the send ledger (deliveries and
suppressions), the one-sender-per-issue lock that lives beside it, and backup and restore.

Public names: database.Database, ledger.Ledger, ledger.FILE_NAME, locks.hold, backup.backup,
backup.restore, backup.Parts, reports.Report (what a provider's webhook asks of the ledger),
casefold.key (the one-row-per-mailbox rule the ledger files addresses by).
"""

__all__ = ["backup", "casefold", "database", "ledger", "locks", "reports", "versions"]
