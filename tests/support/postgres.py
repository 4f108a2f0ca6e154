"""A throwaway PostgreSQL server for the tests and benchmarks: Debian's binaries, loopback only.

PostgreSQL refuses to run as root, so when the tests run as root (containers, CI) the folder is
handed to the `postgres` user the Debian package creates and every server command runs through
`runuser -u postgres --`. Clients (psql, psycopg) connect as the superuser role `innovate` with
trust authentication, which is safe only because the server listens on 127.0.0.1 and a unix
socket inside the folder.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROLE = "innovate"
SERVER_USER = "postgres"
START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections
PORT_TRIES = 3  # free ports tried, should another process take one before the server binds it
COMMAND_TIMEOUT = 60  # seconds any one server command may take before the tests give up
MISSING = (
    "PostgreSQL's server binaries were not found: install Debian's postgresql (make test does it)"
)
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Settings for a test server: durability off (the data is thrown away) and enough connections
# for several `serve` processes with pools plus the senders of the cross-machine tests.
_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{folder}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
"""


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here: binaries missing or the folder unusable."""


def find_binaries(debian: Path = Path("/usr/lib/postgresql")) -> Path:
    """The folder holding initdb, pg_ctl and psql: Debian's newest version, else PATH."""
    candidates = sorted(
        debian.glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "psql")):
            return folder
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(MISSING)


def free_port() -> int:
    """A loopback port nobody listens on (PostgreSQL cannot be given port 0)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server: its data in `folder`/data, its socket and log in `folder`."""

    folder: Path
    port: int
    binaries: Path
    as_user: str | None  # the OS user the server runs as when we are root, else None
    running: bool = field(default=False)

    @classmethod
    def start(cls, folder: Path) -> PostgresServer:
        """initdb into `folder` (which must exist and be empty), configure, and start."""
        folder = Path(folder).resolve()
        as_user = SERVER_USER if os.geteuid() == 0 else None
        server = cls(folder, free_port(), find_binaries(), as_user)
        server._prepare_folder()
        server._initdb()
        for _ in range(PORT_TRIES - 1):
            try:
                server._start()
                break
            except PostgresUnavailable as error:
                if "already in use" not in str(error):
                    raise
                # Another process took the free port between our probe and the server's bind.
                server.port = free_port()
                server._configure(f"port = {server.port}\n")  # the last setting wins
        else:
            server._start()
        atexit.register(server.stop)  # also on a crash of the session, not only at teardown
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, name: str) -> str:
        """The connection URL of database `name` (trust authentication on loopback)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (a random name when None); returns its URL."""
        name = name or f"test_{secrets.token_hex(6)}"
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        # template0: always empty and unused, so this never waits for another connection.
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql over the unix socket; returns its unaligned output."""
        result = subprocess.run(
            [
                str(self.binaries / "psql"),
                *("-h", str(self.folder), "-p", str(self.port), "-U", ROLE, "-d", database),
                *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        """Stop the server (fast: disconnects clients); safe to call twice."""
        if not self.running:
            return
        done = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "20", check=False)
        if done.returncode != 0:
            # A server that will not stop in time must still not outlive the run.
            self._pg_ctl("stop", "-m", "immediate", check=False)
        self.running = False

    def restart(self) -> None:
        """Stop, then start again on the same port and data (clients must reconnect)."""
        self.stop()
        self._start()

    # internals ------------------------------------------------------------------------------

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_user is None:
            return
        try:
            account = pwd.getpwnam(self.as_user)
        except KeyError:
            raise PostgresUnavailable(f"no '{self.as_user}' user: {MISSING}") from None
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        probe = self._run(["test", "-w", str(self.folder)], check=False)
        if probe.returncode != 0:
            raise PostgresUnavailable(
                f"{self.folder} is not reachable by the '{self.as_user}' user; "
                "use a folder under /tmp rather than pytest's private tmp_path"
            )

    def _initdb(self) -> None:
        self._run(
            [
                str(self.binaries / "initdb"),
                *("-D", str(self.data), "-U", ROLE, "--auth=trust"),
                *("--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"),
            ]
        )
        self._configure(_CONFIG.format(port=self.port, folder=self.folder))

    def _configure(self, lines: str) -> None:
        # Written by the server's user: the data folder is theirs and private to them.
        self._run(["sh", "-c", f'cat >> "{self.data}/postgresql.conf"'], stdin=lines)

    def _start(self) -> None:
        started = self._pg_ctl(
            "start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.log), check=False
        )
        if started.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(f"PostgreSQL did not start: {started.stderr.strip()}\n{tail}")
        self.running = True

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.binaries / "pg_ctl"), "-D", str(self.data), *args], check=check)

    def _run(
        self, command: list[str], stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.folder,  # the server's user may not be able to enter our cwd
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result
