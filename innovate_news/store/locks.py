"""One sender per issue: an flock on a file in the state folder, or on the shared database a
PostgreSQL advisory lock; either way a second sender is refused, naming the holder."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from innovate_news.errors import IssueLockedError, LedgerError
from innovate_news.output import private_folder
from innovate_news.store.database import Engine

if TYPE_CHECKING:
    from innovate_news.store.postgres import Session

# Who holds an issue's lock on the shared database (store.pgschema's send_locks).
_CLAIM = (
    "INSERT INTO send_locks (issue, host, pid, since, backend) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (issue) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
    "since = excluded.since, backend = excluded.backend"
)


@contextlib.contextmanager
def hold(folder: Path, issue: str) -> Iterator[None]:
    """Hold the send lock of `issue`; a second holder fails at once, naming the first.

    The kernel releases an flock when its process dies, so a crash never leaves a stale lock.
    """
    path = folder / f"{issue}.lock"

    def busy(holder: str) -> Exception:
        return IssueLockedError(
            f"issue {issue} is being sent by {holder}; wait for that run to finish "
            f"(the lock is {path})"
        )

    with exclusive(path, busy):
        yield


@contextlib.contextmanager
def exclusive(
    path: Path, busy: Callable[[str], Exception], patience: float = 0.0
) -> Iterator[None]:
    """Hold the flock on `path`, waiting up to `patience` seconds for another holder to let
    go; then raise `busy(who holds it)`. The holder's pid and host are written in the file."""
    private_folder(path.parent)  # the first lock taken may be what creates the state folder
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy(_holder(path)) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        os.write(fd, json.dumps(me).encode("utf-8"))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def hold_shared(engine: Engine, issue: str) -> Iterator[None]:
    """`hold` on the shared database: a session-level advisory lock on a connection of its
    own, which the server releases when the connection ends, so a sender that dies (SIGKILL,
    a lost machine) never leaves a stale lock. The holder's host and pid are kept in a row."""
    from innovate_news.store import postgres

    if not isinstance(engine, postgres.PostgresEngine):
        raise TypeError("hold_shared needs the shared database's engine")
    with postgres.session_lock(engine.url, f"innovate-news send {issue}") as session:
        if not session.held:
            raise IssueLockedError(
                f"issue {issue} is being sent by {_shared_holder(session, issue)}; wait for that "
                f"run to finish (the lock is in the shared database {engine.where})"
            )
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        me = (issue, socket.gethostname(), os.getpid(), since, session.pid)
        session.execute(_CLAIM, me)
        try:
            yield
        finally:
            with contextlib.suppress(LedgerError):  # the server may be gone; the lock is too
                session.execute(
                    "DELETE FROM send_locks WHERE issue = ? AND backend = ?", (issue, session.pid)
                )


def _shared_holder(session: Session, issue: str, patience: float = 1.0) -> str:
    """Who holds an issue's advisory lock: the row whose session is the lock's holder (a row
    left by a sender that died names a session that is gone). Waits a moment, bounded, for
    a holder that has just taken the lock to write its row."""
    deadline = time.monotonic() + patience
    while True:
        holder = session.holder()
        rows = session.execute(
            "SELECT host, pid, since FROM send_locks WHERE issue = ? AND backend = ?",
            (issue, holder if holder is not None else -1),
        )
        if rows:
            host, pid, since = rows[0]
            return f"pid {pid} on {host} (since {since})"
        if time.monotonic() >= deadline:
            return "another process"
        time.sleep(0.01)


def _holder(path: Path, patience: float = 1.0) -> str:
    """Who holds a lock file, as far as it says.

    The holder writes its name just after taking the lock, so a run that arrives in between
    finds the file empty: it waits a moment (bounded) for the name before giving up on it.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "another process"
            time.sleep(0.01)
