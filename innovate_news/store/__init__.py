"""Durable state in the state folder: the SQLite layer, the send ledger (deliveries and
suppressions) and the one-sender-per-issue lock that lives beside it.

Public names: database.Database, ledger.Ledger, ledger.FILE_NAME, locks.hold.
"""

__all__ = ["database", "ledger", "locks"]
