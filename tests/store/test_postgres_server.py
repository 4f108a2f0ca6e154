"""The throwaway PostgreSQL server the store tests run against: start, databases, restart, stop."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import stores
from tests.support.postgres import PostgresServer, PostgresUnavailable, find_binaries, free_port


def query(url: str, sql: str) -> str:
    """Run `sql` through the psql binary against a connection URL, as a client would."""
    psql = find_binaries() / "psql"
    result = subprocess.run(
        [str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, so restarting and stopping it disturbs no other test."""
    with stores.own_server() as server:
        yield server


def test_databases_are_separate_and_reachable_by_url(postgres_server: PostgresServer) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()
    assert first != second
    assert first.startswith(f"postgresql://innovate@127.0.0.1:{postgres_server.port}/")
    query(first, "CREATE TABLE people (email text); INSERT INTO people VALUES ('a@example.org')")
    assert query(first, "SELECT email FROM people") == "a@example.org"
    assert query(second, "SELECT count(*) FROM pg_tables WHERE tablename = 'people'") == "0"
    assert query(first, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t"


def test_named_database_and_fixture_url(postgres_server: PostgresServer, database_url: str) -> None:
    assert query(database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
    url = postgres_server.create_database("named_for_test")
    assert url == postgres_server.url("named_for_test")
    assert query(url, "SELECT current_database()") == "named_for_test"
    with pytest.raises(ValueError, match="not a plain database name"):
        postgres_server.create_database('x"; DROP DATABASE postgres; --')


def test_listens_on_loopback_and_its_own_socket_only(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    assert query(url, "SHOW listen_addresses") == "127.0.0.1"
    assert query(url, "SHOW unix_socket_directories") == str(postgres_server.folder)
    assert query(url, "SHOW fsync") == "off"
    if os.geteuid() == 0:  # PostgreSQL refuses root: the server runs as the package's user
        assert postgres_server.data.stat().st_uid == pwd.getpwnam("postgres").pw_uid


def test_restart_keeps_data_and_port_and_stop_ends_the_server(own_server: PostgresServer) -> None:
    url = own_server.create_database("kept")
    query(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
    port = own_server.port
    own_server.restart()
    assert own_server.port == port
    assert query(url, "SELECT x FROM t") == "42"
    own_server.stop()
    own_server.stop()  # twice is harmless
    assert not (own_server.data / "postmaster.pid").exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_missing_binaries_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PostgresUnavailable, match="install Debian's postgresql"):
        find_binaries(tmp_path)


FAILING = """
def test_fails(postgres_server):
    (postgres_server.folder.parent / "{marker}").write_text(str(postgres_server.port))
    assert False, "on purpose"
"""


def test_session_server_is_stopped_even_when_a_test_fails(tmp_path: Path) -> None:
    marker = f"port-{os.getpid()}-{tmp_path.name}"
    (tmp_path / "test_failing.py").write_text(FAILING.format(marker=marker))
    pytest_run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest"),
            *("-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull),
            str(tmp_path / "test_failing.py"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pytest_run.returncode == 1, pytest_run.stdout + pytest_run.stderr
    assert "on purpose" in pytest_run.stdout
    port_file = Path(tempfile.gettempdir()) / marker
    port = int(port_file.read_text())
    port_file.unlink()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_a_port_taken_before_the_server_binds_it_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tests.support.postgres as postgres

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        monkeypatch.setattr(postgres, "free_port", lambda: next(ports, None) or free_port())
        folder = Path(tempfile.mkdtemp(prefix="innovate-news-pg-"))
        try:
            server = PostgresServer.start(folder)
            try:
                assert server.port != busy
                assert query(server.create_database(), "SELECT 1") == "1"
            finally:
                server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
