"""The build cache in the state folder: each post's artefacts, keyed by a hash of its inputs.

The key covers the post's bytes, the settings, the templates and the package version, so an
edit to any of them invalidates exactly the entries it affects.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import time
from pathlib import Path
from typing import Any

from . import __version__
from .artefacts import Artefacts
from .errors import InnovateNewsError
from .output import write_bytes

_RACY_NS = 2_000_000_000
_PARTS = ("page", "rss", "atom", "json", "ics")


class CacheDamagedError(InnovateNewsError):
    """A blob the index promises is gone (someone removed files from the state folder)."""


def fingerprint(*parts: str) -> str:
    sha = hashlib.sha256(__version__.encode())
    for part in parts:
        sha.update(b"\x00" + part.encode())
    return sha.hexdigest()


def key(data: bytes, build_fingerprint: str) -> str:
    return hashlib.sha256(build_fingerprint.encode() + b"\x00" + data).hexdigest()


def source_key(path: Path, data: bytes, build_fingerprint: str) -> str:
    """The path is hashed too: two files with the same bytes are still two posts."""
    return key(bytes(path) + b"\x00" + data, build_fingerprint)


class Cache:
    """Packs of artefacts on disk, and an index of their metadata loaded once a build."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index_path = folder / "index.marshal"
        self._index: dict[str, dict[str, Any]] | None = None
        self._old_stats: dict[str, list[Any]] = {}
        self.stats: dict[str, list[Any]] = {}
        self._fds: dict[str, int] = {}
        self._signatures: dict[str, list[Any]] = {}

    @property
    def index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            self._index = {}
            try:
                # marshal, not JSON: several times faster for 10,000 entries, and like JSON
                # it only ever builds plain values (no code runs on load, unlike pickle).
                loaded = marshal.loads(self.index_path.read_bytes())  # noqa: S302 - see above
            except (FileNotFoundError, ValueError, EOFError, TypeError):
                loaded = None  # a missing or damaged cache only costs a cold build
            if isinstance(loaded, dict) and isinstance(loaded.get("entries"), dict):
                self._index = loaded["entries"]
                self._old_stats = loaded.get("stats") or {}
        return self._index

    def known_key(self, path: Path, build_fingerprint: str) -> str | None:
        """A source's key from the last build when its size and mtime are unchanged (as git
        does), else None: it must be read and hashed (which the build's workers do)."""
        self.index  # noqa: B018 - loads the stats of the previous build
        info = os.stat(path)  # noqa: PTH116 - thousands of calls; pathlib adds overhead
        signature = [info.st_mtime_ns, info.st_size, info.st_ino, build_fingerprint]
        old = self._old_stats.get(str(path))
        self._signatures[str(path)] = signature
        if old is not None and old[:4] == signature and old[4]:
            return str(old[4])
        return None

    def record(self, path: Path, digest: str) -> None:
        """Remember a source's key for the next build's known_key."""
        signature = self._signatures[str(path)]
        # A file changed within the clock's granularity of this look could change again
        # without its mtime moving ("racy git"); such files are hashed again next time.
        settled = signature[0] < time.time_ns() - _RACY_NS
        self.stats[str(path)] = [*signature, digest if settled else ""]

    def meta(self, digest: str) -> dict[str, Any] | None:
        """Cached metadata, with the pack location of the artefacts under "_pack"."""
        return self.index.get(digest)

    def store_many(self, built: list[tuple[str, Artefacts]]) -> dict[str, list[Any]]:
        """Write a chunk's artefacts as one pack file; return each key's location in it.

        One file per chunk rather than per post: creating files is the slow part of a cold
        build, and reading a feed's entries back from a few packs beats thousands of opens.
        """
        chunks: list[bytes] = []
        locations: dict[str, list[Any]] = {}
        offset = 0
        name = hashlib.sha256("\n".join(k for k, _ in built).encode()).hexdigest()[:32]
        for digest, artefacts in built:
            parts = [getattr(artefacts, part) for part in _PARTS]
            locations[digest] = [name, offset, *(len(p) for p in parts)]
            chunks.extend(parts)
            offset += sum(len(p) for p in parts)
        write_bytes(self.folder / "packs" / f"{name}.pack", b"".join(chunks))
        return locations

    def load_part(self, location: list[Any], part: str) -> bytes:
        """Just one of a post's artefacts (a feed needs only its own format)."""
        name, offset, *sizes = location
        index = _PARTS.index(part)
        return os.pread(self._fd(name), sizes[index], offset + sum(sizes[:index]))

    def copy_part(self, location: list[Any], part: str, out_fd: int) -> None:
        """Append one artefact to an open file in the kernel, without reading it into Python:
        a feed of 10,000 entries is mostly this."""
        name, offset, *sizes = location
        index = _PARTS.index(part)
        start, left = offset + sum(sizes[:index]), sizes[index]
        while left:
            sent = os.sendfile(out_fd, self._fd(name), start, left)
            if sent == 0:
                raise CacheDamagedError(f"the build cache in {self.folder} is truncated")
            start, left = start + sent, left - sent

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            try:
                fd = os.open(self.folder / "packs" / f"{name}.pack", os.O_RDONLY)
            except FileNotFoundError as exc:
                raise CacheDamagedError(
                    f"the build cache in {self.folder} is missing a pack; delete that folder "
                    "and build again"
                ) from exc
            self._fds[name] = fd
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def save_index(
        self, entries: dict[str, dict[str, Any]], stats: dict[str, list[Any]] | None = None
    ) -> None:
        """Keep only this build's entries, and delete packs nothing refers to any more."""
        self.close()
        document = {"entries": entries, "stats": stats or {}}
        write_bytes(self.index_path, marshal.dumps(document))
        self._index = entries
        live = {meta["_pack"][0] for meta in entries.values()}
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / "packs") as found:
            for entry in found:
                if entry.name.endswith(".pack") and entry.name[:-5] not in live:
                    with contextlib.suppress(FileNotFoundError):
                        Path(entry.path).unlink()
