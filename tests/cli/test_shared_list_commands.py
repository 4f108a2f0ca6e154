"""The subscriber list on PostgreSQL: `subscribers import` and `export` move CSV in and out of
the shared database's table, and `store copy` moves the list CSV into it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.servers import write_list
from tests.support.stores import URL_VARIABLE, StoreBackend

Run = Callable[..., Result]
SOURCE = """email,name,status,topics,consent_at,consent_source
amelia.hart@example.org,"Hart, Amelia",subscribed,finding;blog,2024-01-02T10:00:00Z,web form
Ben.Okoro@example.com,Ben Okoro,subscribed,,2024-02-03T11:00:00Z,import
"""


def exported(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_then_export_round_trips_through_the_shared_table(
    run: Run, project: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_VARIABLE, database_url)
    StoreBackend("postgresql").use_in(project)
    run("store", "init")
    (project / "subscribers.csv").unlink(missing_ok=True)
    source = tmp_path / "people.csv"
    source.write_text(SOURCE, encoding="utf-8")
    imported = run("subscribers", "import", str(source))
    assert imported.exit_code == 0, imported.output
    assert not (project / "subscribers.csv").exists()  # `[email] subscribers` names no list
    out = run("subscribers", "export")
    assert out.exit_code == 0, out.output
    assert exported(out.output) == exported(SOURCE)
    status = run("store", "status").output
    assert re.search(r"subscribers +2\n", status), status


def test_store_copy_moves_the_list_csv_into_the_shared_table(
    run: Run, project: Path, database_url: str
) -> None:
    write_list(project, 3)
    copied = run("store", "copy", "--to", "postgresql", env={URL_VARIABLE: database_url})
    assert copied.exit_code == 0, copied.output
    assert "3 subscribers" in copied.output
    StoreBackend("postgresql").use_in(project)
    (project / "subscribers.csv").unlink()  # the table is the list now
    out = run("subscribers", "export", env={URL_VARIABLE: database_url})
    assert out.exit_code == 0, out.output
    assert [r["email"] for r in exported(out.output)] == [
        "r001@example.org",
        "r002@example.org",
        "r003@example.org",
    ]
