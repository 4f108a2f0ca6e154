"""The two store backends for tests: a ledger or sign-ups in a SQLite file, or in a PostgreSQL
database of their own with the schema and no rows.

Making a database costs a quarter of a second even from a template, so a test's database is
emptied afterwards (TRUNCATE, a few milliseconds) and given to the next test; one the test left
in any other state (a schema changed, a connection still holding a lock) is not reused.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from innovate_news.audience.signups import Signups
from innovate_news.store import pgschema, postgres
from innovate_news.store.ledger import Ledger
from tests.support.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql")
TEMPLATE = "innovate_store_template"
URL_VARIABLE = "INNOVATE_NEWS_DATABASE_URL"


_TABLES = ", ".join(
    [*pgschema.LEDGER_TABLES, *pgschema.SIGNUP_TABLES, *pgschema.LIST_TABLES, "send_locks"]
)


@dataclass
class Databases:
    """Databases with the schema for the tests, made from a template and reused once empty."""

    server: PostgresServer
    free: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, server: PostgresServer) -> Databases:
        postgres.migrate(server.create_database(TEMPLATE))
        return cls(server)

    def take(self) -> str:
        """The URL of a database with the schema and no rows."""
        if self.free:
            return self.free.pop()
        name = f"test_{secrets.token_hex(6)}"
        self.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.server.url(name)

    def give_back(self, url: str) -> None:
        """Empty the database for the next test, if it is as the schema made it."""
        try:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute("SET lock_timeout = '2s'")
                row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
                if row is None or row[0] != pgschema.VERSION:
                    return
                db.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY")
        except psycopg.Error:
            return
        self.free.append(url)


@contextlib.contextmanager
def own_server() -> Iterator[PostgresServer]:
    """A server of a test's own (for stopping and restarting it), stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="innovate-news-pg-"))
    server = PostgresServer.start(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class StoreBackend:
    """Which backend a test runs against, and how it opens the stores there (each store it
    opens is closed when the test ends: `close`)."""

    name: str
    url: str = ""  # the database's URL on PostgreSQL
    opened: list[Ledger | Signups] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        return self.name == "postgresql"

    def ledger(self, path: Path, durable: bool = False) -> Ledger:
        """The ledger: the SQLite file `path`, or the test's database (`path` unused)."""
        if self.shared:
            ledger = Ledger(postgres.connect(self.url, Ledger.what), durable)
        else:
            ledger = Ledger(path, durable)
        self.opened.append(ledger)
        return ledger

    def signups(self, path: Path) -> Signups:
        if self.shared:
            signups = Signups(postgres.connect(self.url, Signups.what))
        else:
            signups = Signups(path)
        self.opened.append(signups)
        return signups

    def close(self) -> None:
        for store in self.opened:
            store.close()

    def use_in(self, project: Path) -> None:
        """Point a project's settings at this backend (SQLite is the default: nothing to say)."""
        if self.shared:
            settings = project / "innovate-news.toml"
            text = settings.read_text(encoding="utf-8")
            settings.write_text(f'{text}\n[store]\nbackend = "postgresql"\n', encoding="utf-8")

    def opener(self, path: Path) -> str:
        """Python source a child process runs to open the same ledger as `ledger(path)`."""
        if self.shared:
            return f"Ledger(postgres.connect({self.url!r}, Ledger.what))"
        return f"Ledger(Path({str(path)!r}))"
