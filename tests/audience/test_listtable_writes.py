"""The list held in PostgreSQL writes only what an edit changed, and whatever the edit, the table
read back is the table written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from innovate_news.audience.listfile import Table
from innovate_news.audience.listtable import ListTable
from innovate_news.store import postgres
from tests.support import stores

HEADER = ("email", "name", "status", "topics")


@pytest.fixture
def url(store_databases: stores.Databases) -> Iterator[str]:
    taken = store_databases.take()
    yield taken
    store_databases.give_back(taken)


def _fill(table: ListTable, count: int) -> None:
    with table.locked() as editor:
        editor.write(
            Table(header=HEADER).replace_rows(
                [
                    Table(header=HEADER).make(
                        {"email": f"r{i}@example.org", "name": f"R {i}", "status": "subscribed"}
                    )
                    for i in range(count)
                ]
            )
        )


def _versions(table: ListTable) -> dict[int, str]:
    """Each row's position and the transaction that last wrote it (PostgreSQL's xmin)."""
    rows = table.engine.query("SELECT position, xmin::text FROM subscribers")
    return {int(position): str(xmin) for position, xmin in rows}


def _cells(table: Table) -> list[tuple[str, ...]]:
    """The rows as a reader sees them: every column, empty where a row is short."""
    return [tuple(table.get(row, column) for column in table.header) for row in table.rows]


def test_a_changed_cell_rewrites_one_row_of_a_thousand(url: str) -> None:
    table = ListTable(postgres.connect(url, "the subscriber list"))
    try:
        _fill(table, 1000)
        before = _versions(table)
        with table.locked() as editor:
            read = editor.read()
            rows = list(read.rows)
            rows[500] = read.changed(rows[500], {"topics": "findings"})
            editor.write(read.replace_rows(rows))
        after = _versions(table)
        assert sorted(p for p in after if after[p] != before[p]) == [rows[500].line]
        assert table.read().get(table.read().rows[500], "topics") == "findings"
    finally:
        table.close()


def test_a_new_column_and_a_new_row_leave_the_other_rows_unwritten(url: str) -> None:
    table = ListTable(postgres.connect(url, "the subscriber list"))
    try:
        _fill(table, 50)
        before = _versions(table)
        with table.locked() as editor:
            read = editor.read().with_columns(("first_name",))
            added = read.make({"email": "new@example.org", "first_name": "Ada"})
            editor.write(read.replace_rows([*read.rows, added]))
        after = _versions(table)
        assert [p for p in before if after[p] != before[p]] == []
        assert len(after) == 51
        final = table.read()
        assert final.header == (*HEADER, "first_name")
        assert _cells(final)[-1] == ("new@example.org", "", "", "", "Ada")
    finally:
        table.close()


# An edit: per row of the list, keep / change its name / remove it; then rows to append, and
# whether a column is added first. Sometimes the kept rows are reversed (a rewrite).
EDITS = st.tuples(
    st.lists(st.sampled_from(("keep", "change", "remove")), min_size=0, max_size=12),
    st.lists(st.text("abcxyz", min_size=1, max_size=4), max_size=4),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=30)
@given(edits=st.lists(EDITS, min_size=1, max_size=3))
def test_any_edit_reads_back_as_written(
    store_databases: stores.Databases,
    edits: list[tuple[list[str], list[str], bool, bool]],
) -> None:
    url = store_databases.take()
    table = ListTable(postgres.connect(url, "the subscriber list"))
    try:
        _fill(table, 8)
        for number, (actions, appended, widen, reverse) in enumerate(edits):
            with table.locked() as editor:
                read = editor.read()
                if widen:
                    read = read.with_columns((f"extra{number}",))
                rows = []
                padded = actions + ["keep"] * (len(read.rows) - len(actions))
                for row, action in zip(read.rows, padded[: len(read.rows)], strict=True):
                    if action == "change":
                        rows.append(read.changed(row, {"name": f"changed {number}"}))
                    elif action == "keep":
                        rows.append(row)
                if reverse:
                    rows.reverse()
                rows += [read.make({"email": f"{a}{number}@example.org"}) for a in appended]
                wanted = read.replace_rows(rows)
                editor.write(wanted)
            found = table.read()
            assert found.header == wanted.header
            assert _cells(found) == _cells(wanted)
    finally:
        table.close()
        store_databases.give_back(url)
