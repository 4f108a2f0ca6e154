"""The store's database layer: one interface (`Engine`), two backends.

SQLite (the default) is a file in the state folder: one connection shared by a process's threads,
WAL, one writer at a time. PostgreSQL (`store.postgres`, chosen by `[store] backend`) is one
database a team shares. The stores (ledger, sign-ups) write portable SQL: `?` placeholders
(translated for PostgreSQL), `ON CONFLICT`, and `COLLATE NOCASE` (on PostgreSQL a collation of
that name). What differs per backend is the schema: each store's SCHEMA for SQLite, made when a
file is opened; `store.pgschema`'s steps for PostgreSQL, applied by `innovate-news store migrate`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, Self

from innovate_news.errors import LedgerError
from innovate_news.output import private_folder

URL_VARIABLE = "INNOVATE_NEWS_DATABASE_URL"  # the shared database (store.backends)
_TIMEOUT = 30.0  # seconds another process may hold the write lock before we give up
SQLITE_VERSION = 1  # the schema version of the files this code writes (see `schema_version`)
# Each SQLite file records its schema version, so a file written by a newer version is refused.
VERSIONED = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
);
"""


class Cursor(Protocol):
    """What a statement returns, on either backend."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """An open write transaction: sqlite3's connection, or store.postgres's wrapper."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class Engine(Protocol):
    """A connection to one store's tables, shared by a process's threads."""

    backend: str  # "sqlite" or "postgresql"
    where: str  # how messages name the database: a path, or a URL without its password

    def transaction(self) -> contextlib.AbstractContextManager[Tx]:
        """One write transaction, serialised with every other writer of the store."""
        ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def apply(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """One write statement, committed on its own; the rows it returns (RETURNING).

        Without the store's writer lock, so only for a statement whose effect needs no read
        of its own first; on PostgreSQL it may be applied twice if the connection drops as it
        commits (see store.postgres), so it must be harmless to repeat.
        """
        ...

    def insert_new(
        self, tx: Tx, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """Insert `rows` into `table` inside `tx`, all at once (COPY on PostgreSQL): only rows
        the caller knows to conflict with none already there, and `table` and `columns` names
        from the code, never from input."""
        ...

    def version(self) -> int:
        """The schema version the database records (0: none yet)."""
        ...

    def close(self) -> None: ...


def newer(where: str, found: int, known: int) -> LedgerError:
    return LedgerError(
        f"{where} has schema version {found}, newer than this innovate-news knows ({known}); "
        "upgrade innovate-news"
    )


def _create_private(path: Path) -> None:
    """Create the database file empty and owner-only unless it exists (SQLite would make it
    0644 under the usual umask); SQLite gives its -wal and -shm files the database's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


class SqliteEngine:
    """A database file in the state folder, made with `schema` if new."""

    backend = "sqlite"

    def __init__(self, path: Path, schema: str, durable: bool, what: str):
        self.path = path
        self.where = str(path)
        self.what = what
        try:
            private_folder(path.parent)
            _create_private(path)
            self._db = sqlite3.connect(
                path, timeout=_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self._set_up(schema, durable)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open {what} {path}: {exc}") from exc
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
                self._refuse_newer()
                # The write lock first, so the schema's statements never need to upgrade to it.
                stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{schema}\n{VERSIONED}\nINSERT OR IGNORE INTO "
                    f"schema_version VALUES ({SQLITE_VERSION}, '{stamp}');\nCOMMIT;"
                )
                return
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _refuse_newer(self) -> None:
        found = self._recorded()
        if found > SQLITE_VERSION:
            self._db.close()
            raise newer(f"{self.what} {self.path}", found, SQLITE_VERSION)

    def _recorded(self) -> int:
        tables = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchall()
        if not tables:
            return 0
        (found,) = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(found or 0)

    def version(self) -> int:
        with self._lock:
            return self._recorded()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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

    def apply(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as db:
            return db.execute(sql, params).fetchall()

    def insert_new(
        self, tx: Tx, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        tx.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608 (names from the code)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"{self.what} {self.path} could not be read: {exc}") from exc


class Database:
    """A store's tables: a file in the state folder (SQLite), or an open `Engine` (PostgreSQL,
    see store.postgres.connect); subclasses give the SQLite schema and their name in errors."""

    what = "the database"  # e.g. "the ledger": how errors name this store

    def __init__(self, where: Path | Engine, schema: str, durable: bool):
        if isinstance(where, Path):
            self.path: Path | None = where
            self.engine: Engine = SqliteEngine(where, schema, durable, self.what)
        else:
            self.path, self.engine = None, where

    @property
    def backend(self) -> str:
        return self.engine.backend

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> contextlib.AbstractContextManager[Tx]:
        """One write transaction, committed on leaving the block."""
        return self.engine.transaction()

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.engine.query(sql, params)

    def _apply(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """One write statement committed on its own (see `Engine.apply`)."""
        return self.engine.apply(sql, params)
