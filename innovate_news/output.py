"""Writing files: atomic (temp file then rename) and never outside the output folder."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from innovate_news.errors import InnovateNewsError


class UnsafePathError(InnovateNewsError):
    """A computed output path would leave its folder."""


def inside(folder: Path, relative: str) -> Path:
    """`folder/relative`, refusing anything that would land outside `folder`.

    The check is lexical (no symlink resolution per file, which costs a stat per path
    component on every one of thousands of pages); `folder` itself is resolved by the caller.
    """
    if not relative or relative.startswith(("/", "\\")) or "\\" in relative or "\x00" in relative:
        raise UnsafePathError(f"refusing to write {relative!r}: not a relative path")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts) or ":" in parts[0]:
        raise UnsafePathError(f"refusing to write {relative!r}: it leaves {folder}")
    return folder / relative


_COUNTER = itertools.count()


def private_folder(folder: Path) -> None:
    """Create `folder`, and any missing parents, owner-only (0700) whatever the umask.

    For the state folder, which holds personal data and secrets; a folder that already
    exists is left as its owner set it.
    """
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by another process just now: theirs is made the same way
        path.chmod(0o700)  # mkdir's mode passes through the umask, chmod's does not


def _open_temp(path: Path, private: bool) -> tuple[int, str]:
    """A new temp file beside `path`: a name no other process or thread can hold."""
    folder = os.path.dirname(path) or "."  # a bare file name is in the working folder
    name = f"{folder}/.{os.path.basename(path)}.{os.getpid()}.{next(_COUNTER)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    # The umask applies to 0666, as for any file; secrets and personal data stay 0600.
    mode = 0o600 if private else 0o666
    try:
        return os.open(name, flags, mode), name
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        return os.open(name, flags, mode), name


@contextlib.contextmanager
def atomic(
    path: Path,
    mode: str = "wb",
    durable: bool = False,
    private: bool = False,
    permissions: int | None = None,
) -> Iterator[IO[bytes]]:
    """Write to a temp file beside `path` and rename it into place only if all went well.

    A crash leaves either the old file or the new one, never half of one. `durable` adds an
    fsync for files that must survive a power cut (lists, ledgers), not rebuildable output;
    `private` keeps the file to its owner (secrets, personal data); `permissions` gives the
    new file exactly these mode bits, whatever the umask (to keep a rewritten file's mode).
    """
    fd, tmp = _open_temp(path, private or permissions is not None)  # empty until chmodded
    try:
        with os.fdopen(fd, mode) as handle:
            if permissions is not None:
                os.fchmod(handle.fileno(), permissions)
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Write every byte of `data` to `fd` (`path` names the file, for errors and tests)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_bytes(path: Path, data: bytes, durable: bool = False, private: bool = False) -> None:
    """Atomically replace `path` with `data` (the hot path of a build: plain os calls)."""
    fd, tmp = _open_temp(path, private)
    try:
        write_all(fd, data, path)
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_text(path: Path, text: str, durable: bool = False, private: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable, private=private)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
