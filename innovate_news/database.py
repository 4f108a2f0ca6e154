"""SQLite behind one module: one connection shared by a process's threads, WAL, one writer."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

from .errors import LedgerError


class Database:
    """A database file in the state folder; subclasses give its schema and its name in errors."""

    what = "the database"  # e.g. "the ledger": how errors name this store

    def __init__(self, path: Path, schema: str, durable: bool):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: each commit reaches the OS before what it guards, so a killed
            # process loses nothing; FULL adds an fsync per commit (~4 ms here), worth it only
            # where a change is acknowledged to someone (`durable`: the list service).
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open {self.what} {path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on leaving the block."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise LedgerError(f"{self.what} {self.path} could not be written: {exc}") from exc

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"{self.what} {self.path} could not be read: {exc}") from exc
