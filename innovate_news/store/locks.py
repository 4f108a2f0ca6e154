"""One sender per issue: an flock on a file in the state folder, naming its holder."""

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

from innovate_news.errors import IssueLockedError
from innovate_news.output import private_folder


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
