"""The subscriber list as a table of the shared PostgreSQL database (`[store] backend =
"postgresql"`), with the ListFile interface the list's users already take.

The table keeps the CSV's header (`subscriber_columns`) and each row's cells in its order
(`subscribers`), so an import, the service's edits and an export treat it as they treat the
file. Every writer holds the store's write lock (an advisory lock of the transaction, taken by
PostgresEngine.transaction), so edits from `serve` on one machine and an import on another
take turns; readers see the last committed list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from innovate_news.audience.listfile import Editor, ListFile, Row, Table
from innovate_news.audience.subscribers import COLUMNS, SubscriberList, parse_bytes, read
from innovate_news.settings import Settings
from innovate_news.store import backends
from innovate_news.store.database import Engine, Tx

WHAT = "the subscriber list"
# What messages and subject access show for "where the list is" (there is no file).
LABEL = Path("subscribers table")


class ListTable(ListFile):
    """The list held in the shared database `engine` (see the module's docstring)."""

    def __init__(self, engine: Engine):  # no lock file: the database's lock serves
        self.engine = engine
        self.path = LABEL

    def read(self) -> Table:
        return _table(self.engine.query)

    def subscribers(self) -> SubscriberList:
        """The list validated as `send` reads a CSV (the same rows, problems and duplicates)."""
        return parse_bytes(self.path, self.read().encode())

    def lookup(self, address: str) -> tuple[Table, Row] | None:
        """The first row of `address` in any case (the `nocase` collation of the email)."""
        found = self.engine.query(
            "SELECT position, cells FROM subscribers WHERE email = ? ORDER BY position LIMIT 1",
            (address,),
        )
        if not found:
            return None
        header = _header(self.engine.query)
        return Table(header=header), Row(tuple(found[0][1]), None, found[0][0])

    @contextlib.contextmanager
    def locked(self) -> Iterator[Editor]:
        """The list's write lock for the block, and its changes committed together at the end."""
        with self.engine.transaction() as tx:
            yield TableEditor(self, tx)

    def close(self) -> None:
        self.engine.close()


class TableEditor(Editor):
    """What a lock holder may do to the table, inside its transaction."""

    def __init__(self, listtable: ListTable, tx: Tx):
        super().__init__(listtable)
        self.tx = tx
        self._read: Table | None = None  # the table as this transaction read it

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.tx.execute(sql, params).fetchall()

    def read(self) -> Table:
        self._read = _table(self._query)
        return self._read

    def append(self, rows: Sequence[Mapping[str, str]], table: Table | None = None) -> None:
        table = table or self.read()
        needed = [c for r in rows for c in r if not table.has(c)]
        if needed:
            widened = table.with_columns(dict.fromkeys(needed))
            self.write(widened.replace_rows([*widened.rows, *(widened.make(r) for r in rows)]))
            return
        last = self._query("SELECT COALESCE(MAX(position), 0) FROM subscribers")[0][0]
        if not self._query("SELECT 1 FROM subscriber_columns LIMIT 1"):
            self._write_header(table.header)
        made = [table.make(r) for r in rows]
        self._insert(table, made, int(last) + 1)

    def write(self, table: Table) -> None:
        """Replace the list with `table`, in this transaction: only the rows that changed,
        when `table` is the one read here with rows changed, removed or added at the end (a
        preference saved at a 100,000-person list writes one row, not all of them)."""
        before = self._read
        changes = _changes(before, table)
        if before is None or changes is None:
            self.tx.execute("DELETE FROM subscribers")
            self.tx.execute("DELETE FROM subscriber_columns")
            self._write_header(table.header)
            self._insert(table, table.rows, 1)
            return
        removed, changed, added = changes
        if table.header != before.header:
            self.tx.execute("DELETE FROM subscriber_columns")
            self._write_header(table.header)
        for start in range(0, len(removed), 1000):
            chunk = removed[start : start + 1000]
            marks = ",".join("?" * len(chunk))
            self.tx.execute(f"DELETE FROM subscribers WHERE position IN ({marks})", chunk)  # noqa: S608 (placeholders only)
        self.tx.executemany(
            "UPDATE subscribers SET email = ?, cells = ? WHERE position = ?",
            [(table.address(r), list(r.cells), r.line) for r in changed],
        )
        self._insert(table, added, max((r.line for r in before.rows), default=0) + 1)

    def _write_header(self, header: Sequence[str]) -> None:
        self.tx.executemany(
            "INSERT INTO subscriber_columns (position, name) VALUES (?, ?)", enumerate(header)
        )

    def _insert(self, table: Table, rows: Sequence[Row], first: int) -> None:
        self.tx.executemany(
            "INSERT INTO subscribers (position, email, cells) VALUES (?, ?, ?)",
            [(first + n, table.address(r), list(r.cells)) for n, r in enumerate(rows)],
        )


def shared(settings: Settings, path: Path | None = None) -> bool:
    """Whether the list is this table: on PostgreSQL, unless a CSV is named (`send
    --subscribers FILE` sends to that file on any backend)."""
    return path is None and backends.backend(settings) == "postgresql"


def open_list(settings: Settings, path: Path | None = None) -> ListFile:
    """The list to read and change: the CSV (`path`, else `[email] subscribers`), or the
    shared database's table (see `shared`). Close it when done."""
    if shared(settings, path):
        return ListTable(backends.connect(WHAT))
    chosen = path or settings.root / settings.email["subscribers"]
    return ListFile(chosen, settings.folder("state") / "locks")


def read_list(settings: Settings, path: Path | None = None) -> SubscriberList:
    """The list validated for sending, from the CSV or this table (see `shared`)."""
    if not shared(settings, path):
        return read(path or settings.root / settings.email["subscribers"])
    table = ListTable(backends.connect(WHAT))
    try:
        return table.subscribers()
    finally:
        table.close()


def rows_of(table: Table) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The table's header and rows as the two tables' rows (for `store copy`)."""
    header: list[tuple[object, ...]] = list(enumerate(table.header))
    rows: list[tuple[object, ...]] = [
        (n, table.address(r), list(r.cells)) for n, r in enumerate(table.rows, 1)
    ]
    return header, rows


def _changes(before: Table | None, after: Table) -> tuple[list[int], list[Row], list[Row]] | None:
    """What turns `before` (as read) into `after`: the positions removed, the rows changed
    (each keeps its position in `line`) and the rows added at the end; None when `after` is
    not such an edit of `before` (rows reordered, or added between others)."""
    if before is None:
        return None
    old = {row.line: row.cells for row in before.rows}
    kept: list[int] = []
    changed: list[Row] = []
    added: list[Row] = []
    for row in after.rows:
        if row.line == 0:  # a new row (Table.make)
            added.append(row)
        elif added or row.line not in old or (kept and row.line <= kept[-1]):
            return None
        else:
            kept.append(row.line)
            if _trimmed(row.cells) != _trimmed(old[row.line]):
                changed.append(row)
    removed = sorted(set(old) - set(kept))
    return removed, changed, added


def _trimmed(cells: Sequence[str]) -> tuple[str, ...]:
    """Cells without trailing empty ones: a column added to the header leaves a row as it was."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return tuple(cells[:end])


def _header(query: Any) -> tuple[str, ...]:
    found = query("SELECT name FROM subscriber_columns ORDER BY position")
    return tuple(name for (name,) in found) or COLUMNS


def _table(query: Any) -> Table:
    """The list as one table; both reads are one snapshot only inside a transaction, which is
    why writers read through their editor."""
    header = _header(query)
    found = query("SELECT position, cells FROM subscribers ORDER BY position")
    return Table(header=header, rows=tuple(Row(tuple(cells), None, line) for line, cells in found))
