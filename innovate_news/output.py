"""Writing files: atomic (temp file then rename) and never outside the output folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import InnovateNewsError


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


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


@contextlib.contextmanager
def atomic(
    path: Path, mode: str = "wb", durable: bool = False, private: bool = False
) -> Iterator[IO[bytes]]:
    """Write to a temp file beside `path` and rename it into place only if all went well.

    A crash leaves either the old file or the new one, never half of one. `durable` adds an
    fsync for files that must survive a power cut (lists, ledgers), not rebuildable output;
    `private` keeps the file to its owner (secrets, personal data).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600; output is meant to be served, secrets and personal data are not.
        os.fchmod(fd, 0o600 if private else 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        Path(tmp).replace(path)
        if durable:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_bytes(path: Path, data: bytes, durable: bool = False, private: bool = False) -> None:
    with atomic(path, durable=durable, private=private) as handle:
        handle.write(data)


def write_text(path: Path, text: str, durable: bool = False, private: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable, private=private)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
