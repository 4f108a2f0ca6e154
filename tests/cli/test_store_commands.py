"""`innovate-news store init|migrate|status|copy` and the shared database's bad input: a wrong
URL or password, a schema newer than the tool, two machines migrating at once."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import Result

from innovate_news.audience.signups import Signups
from innovate_news.errors import LedgerError
from innovate_news.mail import Receipt
from innovate_news.settings import Settings
from innovate_news.store import pgschema, postgres
from innovate_news.store.ledger import Ledger
from tests.support.postgres import PostgresServer
from tests.support.servers import write_list
from tests.support.stores import URL_VARIABLE, StoreBackend

Run = Callable[..., Result]
ISSUE = "2023-06-guidance-year"
PASSWORD = "correct-horse-battery-42"


def shared(project: Path) -> None:
    StoreBackend("postgresql").use_in(project)
    write_list(project, 3)


def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(statement)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def password_role(postgres_server: PostgresServer) -> Iterator[str]:
    """A role that must give its password (scram), on a server otherwise trusting loopback."""
    hba = postgres_server.data / "pg_hba.conf"
    rule = "host all pw_reader 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(rule + hba.read_text())  # first match wins: before the trust lines
    postgres_server.psql(
        f"CREATE ROLE pw_reader LOGIN PASSWORD '{PASSWORD}'; SELECT pg_reload_conf()"
    )
    yield "pw_reader"
    hba.write_text(hba.read_text().replace(rule, ""))
    postgres_server.psql("SELECT pg_reload_conf()")


def test_a_wrong_password_names_the_variable_and_never_the_password(
    run: Run, project: Path, postgres_server: PostgresServer, password_role: str
) -> None:
    shared(project)
    url = f"postgresql://{password_role}:wrong-{PASSWORD}@127.0.0.1:{postgres_server.port}/postgres"
    result = run("store", "status", env={URL_VARIABLE: url})
    assert result.exit_code == 1
    assert URL_VARIABLE in result.output and "password authentication failed" in result.output
    assert (
        f"postgresql://{password_role}@127.0.0.1:{postgres_server.port}/postgres" in result.output
    )
    assert PASSWORD not in result.output and "Traceback" not in result.output
    sent = run("send", ISSUE, "--yes", env={URL_VARIABLE: url})
    assert sent.exit_code == 1 and URL_VARIABLE in sent.output and PASSWORD not in sent.output
    right = url.replace(f"wrong-{PASSWORD}", PASSWORD)
    assert (
        "no innovate-news tables yet"
        in run("send", ISSUE, "--yes", env={URL_VARIABLE: right}).output
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgres//reader:hunter2-hunter2@db.example.org/news",  # no scheme: not a URL at all
        "postgresql://reader:hunter2-hunter2@127.0.0.1:1/news",  # nothing listens there
        "host=127.0.0.1 port=1 password=hunter2-hunter2 dbname=news",
    ],
)
def test_a_bad_url_is_a_clear_error_without_the_password(run: Run, project: Path, url: str) -> None:
    shared(project)
    result = run("store", "migrate", env={URL_VARIABLE: url})
    assert result.exit_code == 1, result.output
    assert URL_VARIABLE in result.output and "hunter2" not in result.output


def test_the_url_is_required_and_never_read_from_settings(run: Run, project: Path) -> None:
    shared(project)
    result = run("store", "status", env={URL_VARIABLE: ""})
    assert result.exit_code == 1 and f"{URL_VARIABLE} is not set" in result.output
    toml = project / "innovate-news.toml"
    toml.write_text(
        toml.read_text().replace('backend = "postgresql"', 'backend = "postgresql"\nurl = "x"')
    )
    assert "unknown key 'url' in [store]" in run("store", "status").output


def test_init_migrate_and_status(run: Run, project: Path, database_url: str) -> None:
    shared(project)
    env = {URL_VARIABLE: database_url}
    empty = run("store", "status", env=env)
    assert empty.exit_code == 0 and "none yet (run `innovate-news store init`)" in empty.output
    made = run("store", "init", env=env)
    assert made.exit_code == 0, made.output
    assert f"schema version 0 to {pgschema.VERSION}" in made.output
    again = run("store", "migrate", env=env)
    assert again.exit_code == 0 and "nothing to do" in again.output
    status = run("store", "status", env=env)
    assert (
        f"Schema version:  {pgschema.VERSION} (this innovate-news: {pgschema.VERSION})"
        in status.output
    )
    assert "postgresql (postgresql://innovate@127.0.0.1:" in status.output
    assert "deliveries" in status.output and "signups" in status.output


def test_status_on_sqlite_reads_without_creating(run: Run, settings: Settings) -> None:
    result = run("store", "status")
    assert result.exit_code == 0 and "Backend:         sqlite" in result.output
    assert "Schema version:  none yet" in result.output
    assert not (settings.folder("state") / "ledger.sqlite3").exists()
    with Ledger.open(settings) as ledger:
        ledger.add(ISSUE, ["a@example.org", "b@example.org"])
    status = run("store", "status").output
    assert "Schema version:  1" in status and re.search(r"deliveries +2\n", status)


def _single_machine_state(settings: Settings) -> None:
    with Ledger.open(settings) as ledger:
        ledger.add(ISSUE, ["a@example.org", "b@example.org", "c@example.org"])
        ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"])
        ledger.finish(ISSUE, [Receipt("a@example.org", "sent", provider_id="Q1")])
        ledger.suppress("b@example.org", "unsubscribed", "one-click")
        ledger.record_test(ISSUE, "smtp", Receipt("t@example.org", "sent"))
    with Signups.open(settings) as signups:
        signups.add("d@example.org", "Dee", "", ("v1", "I agree."), dt.datetime.now(dt.UTC))


def test_copy_moves_the_state_in_one_go_and_refuses_a_database_that_has_state(
    run: Run, settings: Settings, project: Path, database_url: str
) -> None:
    _single_machine_state(settings)
    env = {URL_VARIABLE: database_url}
    copied = run("store", "copy", "--to", "postgresql", env=env)
    assert copied.exit_code == 0, copied.output
    assert "3 deliveries" in copied.output and "1 suppressions" in copied.output
    assert "1 signups" in copied.output and "1 test_sends" in copied.output
    with Ledger(postgres.connect(database_url, Ledger.what)) as ledger:
        assert ledger.states(ISSUE) == {
            "a@example.org": "sent", "b@example.org": "pending", "c@example.org": "pending",
        }  # fmt: skip
        assert ledger.is_suppressed("B@example.org")
        ledger.record_test(ISSUE, "smtp", Receipt("u@example.org", "sent"))  # ids number on
        assert [t["address"] for t in ledger.test_sends(ISSUE)] == [
            "t@example.org",
            "u@example.org",
        ]
    again = run("store", "copy", "--to", "postgresql", env=env)
    assert again.exit_code == 1 and "is not empty" in again.output
    assert sql(database_url, "SELECT COUNT(*) FROM deliveries") == [(3,)]  # nothing added
    shared(project)
    status = run("store", "status", env=env).output
    assert re.search(r"deliveries +3\n", status) and re.search(r"signups +1\n", status)


def test_a_copy_that_fails_part_way_leaves_nothing_behind(
    run: Run, settings: Settings, database_url: str
) -> None:
    _single_machine_state(settings)
    with Signups.open(settings) as signups:  # a row for the last table copied ...
        signups.allow("refused-client", dt.datetime.now(dt.UTC), 5)
    postgres.migrate(database_url)  # ... which this database refuses, after all the others
    sql(database_url, "ALTER TABLE hits ADD CHECK (client <> 'refused-client')")
    result = run("store", "copy", "--to", "postgresql", env={URL_VARIABLE: database_url})
    assert result.exit_code == 1 and "violates check constraint" in result.output
    for table in ("deliveries", "suppressions", "signups", "test_sends", "hits"):
        assert sql(database_url, f"SELECT COUNT(*) FROM {table}") == [(0,)], table  # noqa: S608
    sql(database_url, "INSERT INTO hits (client, at) VALUES ('x', 'then')")
    taken = run("store", "copy", "--to", "postgresql", env={URL_VARIABLE: database_url})
    assert taken.exit_code == 1 and "not empty (it has rows in hits)" in taken.output


def test_a_newer_schema_is_refused_on_both_backends(
    run: Run, store_backend: StoreBackend, settings: Settings
) -> None:
    newer = pgschema.VERSION + 1
    write_list(settings.root, 3)
    if store_backend.shared:
        with psycopg.connect(store_backend.url, autocommit=True) as shared_db:
            shared_db.execute("INSERT INTO schema_version VALUES (%s, 'later')", (newer,))
    else:
        with Ledger.open(settings):
            pass
        with sqlite3.connect(settings.folder("state") / "ledger.sqlite3") as db:
            db.execute("INSERT INTO schema_version VALUES (?, 'later')", (newer,))
    for args in (("send", ISSUE, "--yes"), ("store", "migrate"), ("status", ISSUE)):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"schema version {newer}" in result.output, args
        assert "upgrade innovate-news" in result.output, args
    with pytest.raises(LedgerError, match="upgrade innovate-news"):
        Ledger.open(settings)


MIGRATE = """
import sys, time
from innovate_news.store import postgres
while time.time() < float(sys.argv[2]):  # start together, as two machines might
    time.sleep(0.001)
print(postgres.migrate(sys.argv[1]))
"""


def test_migrations_from_several_machines_at_once_apply_each_step_once(database_url: str) -> None:
    start = f"{dt.datetime.now().timestamp() + 1.0}"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, database_url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    results = sorted(out.strip() for out, _ in outputs)
    assert (
        results == [f"(0, {pgschema.VERSION})"] + [f"({pgschema.VERSION}, {pgschema.VERSION})"] * 3
    )
    assert sql(database_url, "SELECT COUNT(*) FROM schema_version") == [(pgschema.VERSION,)]


def test_state_backup_points_to_pg_dump_on_the_shared_database(
    run: Run, project: Path, database_url: str, tmp_path: Path
) -> None:
    shared(project)
    for command, tool in (("backup", "pg_dump"), ("restore", "pg_restore")):
        result = run(
            "state", command, str(tmp_path / "state.zip"), env={URL_VARIABLE: database_url}
        )
        assert result.exit_code == 1 and tool in result.output, result.output
