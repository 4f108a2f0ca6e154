"""Looking after the store: its schema version and row counts (`store status`), and moving a
single machine's state into the shared database (`store copy --to postgresql`).

Which SQLite files make up the state is the caller's to say (`Files`), as for backups: the
sign-ups file belongs to `audience`, which this layer does not import.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from innovate_news.errors import LedgerError
from innovate_news.store import pgschema
from innovate_news.store.database import SQLITE_VERSION, Engine

# The store's tables, by the SQLite file that holds them (the shared database holds them all).
TABLES_BY_STORE = {"ledger": pgschema.LEDGER_TABLES, "signups": pgschema.SIGNUP_TABLES}


@dataclass(frozen=True)
class Files:
    """The state folder's SQLite files, by store ("ledger", "signups")."""

    folder: Path
    names: Mapping[str, str]

    def path(self, store: str) -> Path:
        return self.folder / self.names[store]


@dataclass(frozen=True)
class Status:
    backend: str
    where: str  # the state folder, or the shared database's URL without its password
    version: int  # the schema version the database records (0: none yet)
    known: int  # the schema version this innovate-news writes
    counts: dict[str, int] = field(default_factory=dict)  # rows by table


def sqlite_status(files: Files) -> Status:
    """The state folder's files as they are, read only: nothing is created or upgraded."""
    counts: dict[str, int] = {}
    versions = []
    for store, tables in TABLES_BY_STORE.items():
        path = files.path(store)
        if not path.is_file():
            counts.update(dict.fromkeys(tables, 0))
            continue
        try:
            with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
                present = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                for table in tables:
                    sql = f"SELECT COUNT(*) FROM {table}"  # noqa: S608 (fixed names)
                    counts[table] = db.execute(sql).fetchone()[0] if table in present else 0
                found = "SELECT MAX(version) FROM schema_version"
                versions.append(
                    db.execute(found).fetchone()[0] or 0 if "schema_version" in present else 0
                )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read {path}: {exc}") from exc
    return Status("sqlite", str(files.folder), min(versions, default=0), SQLITE_VERSION, counts)


def shared_status(engine: Engine) -> Status:
    """The shared database's schema version, and its rows by table once it has the schema."""
    version = engine.version()
    counts: dict[str, int] = {}
    if version:
        for tables in (*TABLES_BY_STORE.values(), pgschema.LIST_TABLES):
            for table in tables:
                sql = f"SELECT COUNT(*) FROM {table}"  # noqa: S608 (fixed names)
                counts[table] = int(engine.query(sql)[0][0])
    return Status("postgresql", engine.where, version, pgschema.VERSION, counts)


def copy(
    files: Files, target: Engine, listing: Mapping[str, list[tuple[object, ...]]] | None = None
) -> dict[str, int]:
    """Every row of the state folder's files into the shared database, in one transaction;
    refused, changing nothing, if the database already holds any row. Returns rows by table.

    Call with the files opened once by their stores (so an older file is upgraded first) and
    the target at this version's schema (`store migrate`). `listing` is the subscriber list's
    rows by table (pgschema.LIST_TABLES), read by `audience`, which this layer does not import.
    """
    rows: dict[str, list[tuple[object, ...]]] = {
        table: [] for tables in TABLES_BY_STORE.values() for table in tables
    }
    for store, tables in TABLES_BY_STORE.items():
        path = files.path(store)
        if path.is_file():
            rows.update(_read_all(path, tables))
    rows.update({table: list((listing or {}).get(table, ())) for table in pgschema.LIST_TABLES})
    with target.transaction() as db:
        taken = [
            table
            for table in rows
            if db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()  # noqa: S608 (fixed names)
        ]
        if taken:
            raise LedgerError(
                f"the PostgreSQL database {target.where} is not empty (it has rows in "
                f"{', '.join(taken)}); copy only into a database that holds no state yet"
            )
        for store_tables in (*TABLES_BY_STORE.values(), pgschema.LIST_TABLES):
            for table, columns in store_tables.items():
                marks = ", ".join("?" * len(columns.split(", ")))
                sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (fixed names)
                db.executemany(sql, rows[table])
        db.execute(pgschema.RESYNC_IDS)
    return {table: len(found) for table, found in rows.items()}


def _read_all(path: Path, tables: Mapping[str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Each table's rows, read in one transaction so they agree with each other."""
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("BEGIN")
            out = {}
            for table, columns in tables.items():
                sql = f"SELECT {columns} FROM {table}"  # noqa: S608 (fixed names)
                out[table] = db.execute(sql).fetchall()
            db.execute("COMMIT")
            return out
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read {path}: {exc}") from exc
