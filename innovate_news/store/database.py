"""SQLite behind one module: one connection shared by a process's threads, WAL, one writer."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

from innovate_news.errors import LedgerError
from innovate_news.output import private_folder

_TIMEOUT = 30.0  # seconds another process may hold the write lock before we give up


def _create_private(path: Path) -> None:
    """Create the database file empty and owner-only unless it exists (SQLite would make it
    0644 under the usual umask); SQLite gives its -wal and -shm files the database's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


class Database:
    """A database file in the state folder; subclasses give its schema and its name in errors."""

    what = "the database"  # e.g. "the ledger": how errors name this store

    def __init__(self, path: Path, schema: str, durable: bool):
        self.path = path
        try:
            private_folder(path.parent)
            _create_private(path)
            self._db = sqlite3.connect(
                path, timeout=_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self._set_up(schema, durable)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open {self.what} {path}: {exc}") from exc
        self._lock = threading.Lock()

    def _set_up(self, schema: str, durable: bool) -> None:
        """WAL, the sync level and the schema, as two processes opening one new file at once
        need: SQLite answers some of those races "locked" at once, without waiting its
        timeout (a reader that must become a writer), so such an answer is tried again."""
        deadline = time.monotonic() + _TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: each commit reaches the OS before what it guards, so a killed
                # process loses nothing; FULL adds an fsync per commit (~4 ms here), worth it
                # only where a change is acknowledged to someone (`durable`: the list service).
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                # The write lock first, so the schema's statements never need to upgrade to it.
                self._db.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
                return
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

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
