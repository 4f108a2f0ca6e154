"""The subscriber CSV as a file: read with each row's original text, changed under a lock.

Every writer holds an exclusive flock on a lock file in the state folder (not on the CSV, whose
inode a rewrite replaces). Appends are one write of whole rows, then an fsync; rewrites go to
a temp file that is fsynced and renamed over the list, so a crash leaves the old list or the
new one. Rows nobody changed are written back byte for byte.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from innovate_news.audience.subscribers import COLUMNS, normalise
from innovate_news.errors import Problem, SubscriberError
from innovate_news.output import atomic, private_folder

BOM = "\ufeff"


@dataclass(frozen=True)
class Row:
    """One record: its cells, and its text as read (None once changed, so it is re-encoded)."""

    cells: tuple[str, ...]
    raw: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Table:
    """The list's header and rows; changes make new tables, the file changes only on write."""

    header: tuple[str, ...]
    rows: tuple[Row, ...] = ()
    newline: str = "\n"
    bom: bool = False
    header_raw: str | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for number, name in enumerate(self.header):
            self._index.setdefault(name.strip().lower(), number)

    def has(self, column: str) -> bool:
        return column in self._index

    def get(self, row: Row, column: str) -> str:
        number = self._index.get(column)
        if number is None or number >= len(row.cells):
            return ""
        return row.cells[number]

    def address(self, row: Row) -> str:
        return normalise(self.get(row, "email"))

    def find(self, address: str) -> int | None:
        """The index of the first row for `address`, in any case (one person, one row)."""
        wanted = address.lower()
        for number, row in enumerate(self.rows):
            if self.address(row).lower() == wanted:
                return number
        return None

    def with_columns(self, columns: Iterable[str]) -> Table:
        """This table with any missing columns added at the end (every row re-encoded)."""
        missing = tuple(c for c in columns if not self.has(c))
        if not missing:
            return self
        header = self.header + missing
        width = len(header)
        rows = tuple(
            Row(tuple(r.cells) + ("",) * (width - len(r.cells)), None, r.line) for r in self.rows
        )
        return replace(self, header=header, rows=rows, header_raw=None)

    def make(self, values: Mapping[str, str]) -> Row:
        """A new row with `values` in their columns (every column must exist)."""
        cells = [""] * len(self.header)
        for name, value in values.items():
            cells[self._index[name]] = value
        return Row(tuple(cells))

    def changed(self, row: Row, values: Mapping[str, str]) -> Row:
        """`row` with some cells replaced; the same row if nothing actually changes."""
        cells = list(row.cells) + [""] * (len(self.header) - len(row.cells))
        for name, value in values.items():
            cells[self._index[name]] = value
        if tuple(cells[: len(row.cells)]) == row.cells and not any(cells[len(row.cells) :]):
            return row
        return Row(tuple(cells), None, row.line)

    def replace_rows(self, rows: Sequence[Row]) -> Table:
        return replace(self, rows=tuple(rows))

    def encode(self) -> bytes:
        out = io.StringIO()
        out.write(BOM if self.bom else "")
        out.write(self.header_raw or encode_row(self.header, self.newline))
        for row in self.rows:
            out.write(row.raw if row.raw is not None else encode_row(row.cells, self.newline))
        return out.getvalue().encode("utf-8")


def encode_row(cells: Sequence[str], newline: str = "\n") -> str:
    """One CSV record (quoted where RFC 4180 needs it), ending with `newline`."""
    if len(cells) == 1 and not cells[0]:
        return '""' + newline  # not a blank line, which readers skip
    return ",".join(_quoted(c) for c in cells) + newline


def _quoted(cell: str) -> str:
    # csv.writer leaves a lone CR unquoted when the line end is LF; RFC 4180 wants it quoted.
    if any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def parse(path: Path, data: bytes) -> Table:
    """A table from the list's bytes; only an undecodable or header-less file is an error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubscriberError(
            [Problem(path, line, "not UTF-8; save the list as UTF-8 CSV")]
        ) from exc
    bom = text.startswith(BOM)
    # Not str.splitlines: it also breaks at VT, FF and other controls inside a cell.
    lines = io.StringIO(text[1 if bom else 0 :], newline="").readlines()
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    reader = csv.reader(lines)
    try:
        header = tuple(next(reader))
    except StopIteration:
        return Table(header=COLUMNS, newline=newline, bom=bom)
    header_raw = "".join(lines[: reader.line_num])
    if not header_raw.endswith("\n"):
        header_raw += newline
    table = Table(header=header, newline=newline, bom=bom, header_raw=header_raw)
    if not table.has("email"):
        raise SubscriberError(
            [Problem(path, 1, f"no 'email' column; the first row must name the columns: "
                     f"{', '.join(COLUMNS)}")]
        )  # fmt: skip
    rows = []
    done = reader.line_num
    for cells in reader:
        raw = "".join(lines[done : reader.line_num])
        line, done = done + 1, reader.line_num
        if not raw.endswith("\n"):
            raw += newline  # a last line without its line end: the next row must not join it
        rows.append(Row(tuple(cells), raw, line))
    return replace(table, rows=tuple(rows))


class ListFile:
    """The subscriber CSV at `path`; `lock_folder` holds the lock every writer takes."""

    def __init__(self, path: Path, lock_folder: Path):
        self.path = path
        digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:16]
        self.lock_path = lock_folder / f"list-{digest}.lock"
        self._cache: tuple[tuple[int, int, int], dict[str, Row], Table] | None = None

    def read(self) -> Table:
        """The list as it is now (a missing file is an empty list with the standard columns)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Table(header=COLUMNS)
        return parse(self.path, data)

    def lookup(self, address: str) -> tuple[Table, Row] | None:
        """The row of `address` (in any case); the index is kept until the file changes."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self._cache is None or self._cache[0] != key:
            table = self.read()
            index: dict[str, Row] = {}
            for row in table.rows:
                index.setdefault(table.address(row).lower(), row)
            self._cache = (key, index, table)
        found = self._cache[1].get(address.lower())
        return None if found is None else (self._cache[2], found)

    @contextlib.contextmanager
    def locked(self) -> Iterator[Editor]:
        """Hold the list's exclusive lock for the block; the kernel drops it if we die."""
        private_folder(self.lock_path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Only lock holders write temp files: any left now are from a writer that died.
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            yield Editor(self)
        finally:
            os.close(fd)

    def append(self, rows: Sequence[Mapping[str, str]]) -> None:
        with self.locked() as editor:
            editor.append(rows)

    def write(self, table: Table) -> None:
        with self.locked() as editor:
            editor.write(table)

    def close(self) -> None:
        """Nothing to release for a file (the shared database's list closes its connection)."""


class Editor:
    """What a lock holder may do to the list."""

    def __init__(self, listfile: ListFile):
        self.listfile = listfile

    def read(self) -> Table:
        return self.listfile.read()

    def append(self, rows: Sequence[Mapping[str, str]], table: Table | None = None) -> None:
        """Add rows at the end, in one write, durable before returning.

        A list that lacks a column the rows need is rewritten with it first; a list without
        its final line end gets one, so a new row never joins the last.
        """
        table = table or self.read()
        needed = [c for r in rows for c in r if not table.has(c)]
        path = self.listfile.path
        if needed or not path.exists():
            widened = table.with_columns(dict.fromkeys(needed))
            self.write(widened.replace_rows([*widened.rows, *(widened.make(r) for r in rows)]))
            return
        text = "".join(encode_row(table.make(r).cells, table.newline) for r in rows)
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        try:
            if _lacks_final_newline(fd):
                text = table.newline + text
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(self, table: Table) -> None:
        """Replace the list atomically and durably with `table`."""
        data = table.encode()
        path = self.listfile.path
        with atomic(path, durable=True, permissions=_permissions(path)) as out:
            out.write(data)


def _lacks_final_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _permissions(path: Path) -> int:
    """The mode a rewrite keeps (a 0640 list stays 0640); a new list is its owner's only."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o600
