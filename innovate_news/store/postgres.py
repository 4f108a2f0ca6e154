"""PostgreSQL behind the store's `Engine` interface; the one module that imports psycopg.

One connection per store object, shared by a process's threads (as SQLite's is), in autocommit
so a read is one round trip. A write transaction first takes a transaction-level advisory lock
named after its store, so writers of one store run one at a time, as SQLite's do: the stores'
read-then-write steps (a sign-up's daily count, a snapshot's next position) stay correct across
machines without retry loops. A connection the server dropped (a restart) is replaced at the
next use; a statement that failed on it is tried again only if nothing can have been applied.

The URL comes from INNOVATE_NEWS_DATABASE_URL (store.backends) and is never shown whole:
messages carry `shown(url)`, which leaves out the password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from innovate_news.errors import LedgerError
from innovate_news.secrecy import redact
from innovate_news.store import pgschema
from innovate_news.store.database import URL_VARIABLE, newer

CONNECT_TIMEOUT = 10  # seconds to reach the server before saying it cannot be reached
LOCK_TIMEOUT = "60s"  # how long `store migrate` waits for another machine's migration
_MIGRATE_KEY = "innovate-news migrate"
T = TypeVar("T")


def key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name` (a store, an issue's send)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """The stores' portable SQL in psycopg's terms: `?` becomes `%s`, a literal `%` `%%`
    (string literals are copied as they are, but for their `%`)."""
    out, quoted = [], False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def _parts(url: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(url)
    except psycopg.Error:
        # Its message quotes the string, password and all: say only what is wrong.
        raise LedgerError(
            f"{URL_VARIABLE} is not a PostgreSQL connection string; write it as "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None


def shown(url: str) -> str:
    """The URL as messages may show it: user, host, port and database; no password."""
    parts = _parts(url)
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def _message(url: str, exc: BaseException) -> str:
    """The first line of a driver error, with the password (and every other secret) out."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = str(_parts(url).get("password") or "")
    return redact(text.replace(password, "[redacted]") if password else text)


def open_connection(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A new autocommit connection, or a LedgerError naming the variable (never the password)."""
    _parts(url)
    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name="innovate-news"
        )
    except psycopg.Error as exc:
        raise LedgerError(
            f"cannot connect to the PostgreSQL database {shown(url)} named by {URL_VARIABLE}: "
            f"{_message(url, exc)}"
        ) from None


class _Tx:
    """An open transaction on one connection, taking the stores' `?` SQL."""

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]):
        self._connection = connection

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """COPY `rows` in: a tenth of the time of INSERTs (a snapshot of 10,000 rows)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._connection.cursor().copy(statement) as copy:  # names from the code
            for row in rows:
                copy.write_row(row)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._connection.execute(translate(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cursor = self._connection.cursor()
        cursor.executemany(translate(sql), [tuple(p) for p in parameters])
        return cursor


class PostgresEngine:
    """One store's connection to the shared database (see the module's docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, what: str):
        self.url = url
        self.what = what
        self.where = shown(url)
        self._write_key = key(f"innovate-news write {what}")
        self._lock = threading.Lock()
        self._connection = open_connection(url)

    def _live(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._connection.closed or self._connection.broken:
            self._connection.close()
            self._connection = open_connection(self.url)
        return self._connection

    def _error(self, verb: str, exc: BaseException) -> LedgerError:
        return LedgerError(
            f"{self.what} ({self.where}) could not be {verb}: {_message(self.url, exc)}"
        )

    def _run(self, step: Callable[[psycopg.Connection[tuple[Any, ...]]], T], verb: str) -> T:
        """`step` on the live connection; once more on a new one if the server had dropped the
        old one (a restart), since a statement sent on a dead connection applied nothing."""
        for attempt in range(2):
            connection = self._live()
            try:
                return step(connection)
            except psycopg.OperationalError as exc:
                if attempt or not connection.broken:
                    raise self._error(verb, exc) from None
            except psycopg.Error as exc:
                raise self._error(verb, exc) from None
        raise AssertionError("unreachable")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._run(
                lambda connection: connection.execute(translate(sql), tuple(params)).fetchall(),
                "read",
            )

    def apply(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """One statement in autocommit: one round trip where a transaction takes three. Tried
        again on a new connection if the old one was found dropped, which may repeat a
        statement whose commit the server saw but whose reply was lost: hence `Engine.apply`'s
        rule that it be harmless to repeat (a ledger mark guarded by its state is)."""

        def step(connection: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            cursor = connection.execute(translate(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []

        with self._lock:
            return self._run(step, "written")

    def insert_new(
        self, tx: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        tx.copy(table, columns, rows)

    def _begin(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        try:
            connection.execute(f"BEGIN; SELECT pg_advisory_xact_lock({self._write_key})")
        except psycopg.Error:
            _rollback(connection)
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """One write transaction, committed on leaving the block, one writer of the store at a
        time; a dropped connection before it began is replaced (see `_run`)."""
        with self._lock:
            self._run(self._begin, "written")
            connection = self._connection
            try:
                yield _Tx(connection)
                connection.execute("COMMIT")
            except psycopg.Error as exc:
                _rollback(connection)
                raise self._error("written", exc) from None
            except BaseException:
                _rollback(connection)
                raise

    def version(self) -> int:
        """The schema version recorded in the database; 0 when it has none."""
        exists = self.query("SELECT to_regclass('schema_version') IS NOT NULL")
        if not exists[0][0]:
            return 0
        return int(self.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0])

    def check_version(self) -> None:
        """Refuse a database without the schema, with an older one, or with a newer one."""
        found = self.version()
        if found > pgschema.VERSION:
            raise newer(f"the PostgreSQL database {self.where}", found, pgschema.VERSION)
        if found == 0:
            raise LedgerError(
                f"the PostgreSQL database {self.where} has no innovate-news tables yet; run "
                "`innovate-news store init` (or `store copy --to postgresql`) first"
            )
        if found < pgschema.VERSION:
            raise LedgerError(
                f"the PostgreSQL database {self.where} has schema version {found}, older than "
                f"this innovate-news's ({pgschema.VERSION}); run `innovate-news store migrate`"
            )

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _rollback(connection: psycopg.Connection[tuple[Any, ...]]) -> None:
    if not connection.broken and not connection.closed:
        with contextlib.suppress(psycopg.Error):
            connection.execute("ROLLBACK")


def connect(url: str, what: str, check: bool = True) -> PostgresEngine:
    """A store's engine; with `check`, refused unless the schema is this version's."""
    engine = PostgresEngine(url, what)
    if check:
        try:
            engine.check_version()
        except LedgerError:
            engine.close()
            raise
    return engine


def migrate(url: str) -> tuple[int, int]:
    """Apply the steps the database lacks, in one transaction, under an advisory lock so two
    machines migrating at once take turns (the second finds nothing to do). Returns the
    versions before and after."""
    with contextlib.closing(open_connection(url)) as connection:
        try:
            connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            connection.execute("SELECT pg_advisory_lock(%s)", (key(_MIGRATE_KEY),))
            with connection.transaction():
                connection.execute(pgschema.VERSION_TABLE)
                row = connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                found = int(row.fetchone()[0])  # type: ignore[index]
                if found > pgschema.VERSION:
                    raise newer(f"the PostgreSQL database {shown(url)}", found, pgschema.VERSION)
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                for number in range(found + 1, pgschema.VERSION + 1):
                    connection.execute(pgschema.STEPS[number - 1])
                    connection.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)",
                        (number, now),
                    )
        except psycopg.Error as exc:
            raise LedgerError(
                f"the PostgreSQL database {shown(url)} could not be migrated: {_message(url, exc)}"
            ) from None
    return found, max(found, pgschema.VERSION)


class Session:
    """A connection of its own holding (or having tried for) a session-level advisory lock:
    the server releases it when the connection ends, so a sender that dies frees it."""

    def __init__(self, url: str, name: str):
        self.url = url
        self.key = key(name)
        self._connection = open_connection(url)
        self.pid: int = self._connection.info.backend_pid
        # A sender whose machine vanishes closes nothing: the server probes the connection and
        # lets go of the lock within about a minute, not the system's default two hours.
        self._connection.execute(
            "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; "
            "SET tcp_keepalives_count = 3"
        )
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        self.held = bool(row and row[0])

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = self._connection.execute(translate(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise LedgerError(
                f"the send lock could not be kept: {_message(self.url, exc)}"
            ) from None

    def holder(self) -> int | None:
        """The server pid of the session holding the lock, if one does."""
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        rows = self.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND classid = ?::bigint::oid AND objid = ?::bigint::oid AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (high, low),
        )
        return int(rows[0][0]) if rows else None

    def close(self) -> None:
        """End the session; the server lets go of the lock with it."""
        self._connection.close()


@contextlib.contextmanager
def session_lock(url: str, name: str) -> Iterator[Session]:
    """Try the advisory lock `name`; the Session says whether it is held. Closed on leaving."""
    session = Session(url, name)
    try:
        yield session
    finally:
        session.close()
