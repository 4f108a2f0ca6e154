"""Writing files: atomic (temp file then rename) and never outside the output folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import InnovateNewsError


class UnsafePathError(InnovateNewsError):
    """A computed output path would leave its folder."""


def inside(folder: Path, relative: str) -> Path:
    """`folder/relative`, refusing anything that resolves outside `folder`."""
    if not relative or relative.startswith(("/", "\\")) or "\\" in relative or "\x00" in relative:
        raise UnsafePathError(f"refusing to write {relative!r}: not a relative path")
    root = folder.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"refusing to write {relative!r}: it leaves {folder}")
    return target


@contextlib.contextmanager
def atomic(path: Path, mode: str = "wb", durable: bool = False) -> Iterator[IO[bytes]]:
    """Write to a temp file beside `path` and rename it into place only if all went well.

    A crash leaves either the old file or the new one, never half of one. `durable` adds an
    fsync for files that must survive a power cut (lists, ledgers), not rebuildable output.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
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


def write_bytes(path: Path, data: bytes, durable: bool = False) -> None:
    with atomic(path, durable=durable) as handle:
        handle.write(data)


def write_text(path: Path, text: str, durable: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
