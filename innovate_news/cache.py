"""The build cache in the state folder: each post's artefacts, keyed by a hash of its inputs.

The key covers the post's bytes, the settings, the templates and the package version, so an
edit to any of them invalidates exactly the entries it affects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .artefacts import Artefacts
from .errors import InnovateNewsError
from .output import write_bytes, write_text

_RACY_NS = 2_000_000_000
_PARTS = ("page", "rss", "atom", "json", "ics")
_HEADER = struct.Struct("<5I")


class CacheDamagedError(InnovateNewsError):
    """A blob the index promises is gone (someone removed files from the state folder)."""


def fingerprint(*parts: str) -> str:
    sha = hashlib.sha256(__version__.encode())
    for part in parts:
        sha.update(b"\x00" + part.encode())
    return sha.hexdigest()


def key(data: bytes, build_fingerprint: str) -> str:
    return hashlib.sha256(build_fingerprint.encode() + b"\x00" + data).hexdigest()


class Cache:
    """Blobs of artefacts on disk, and an index of their metadata loaded once a build."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index_path = folder / "index.json"
        self._index: dict[str, dict[str, Any]] | None = None
        self._old_stats: dict[str, list[Any]] = {}
        self.stats: dict[str, list[Any]] = {}

    @property
    def index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            self._index = {}
            try:
                loaded = json.loads(self.index_path.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                loaded = None  # a missing or damaged cache only costs a cold build
            if isinstance(loaded, dict) and isinstance(loaded.get("entries"), dict):
                self._index = loaded["entries"]
                self._old_stats = loaded.get("stats") or {}
        return self._index

    def source_key(self, path: Path, build_fingerprint: str) -> str:
        """The key of a source file; unchanged size and mtime reuse the last hash (as git does)."""
        self.index  # noqa: B018 - loads the stats of the previous build
        info = os.stat(path)  # noqa: PTH116 - thousands of calls; pathlib adds overhead
        signature = [info.st_mtime_ns, info.st_size, info.st_ino, build_fingerprint]
        name = str(path)
        old = self._old_stats.get(name)
        if old is not None and old[:4] == signature and old[4]:
            digest = str(old[4])
        else:
            # The path is hashed too: two files with the same bytes are still two posts.
            digest = key(bytes(path) + b"\x00" + path.read_bytes(), build_fingerprint)
        # A file changed within the clock's granularity of this look could change again
        # without its mtime moving ("racy git"); such files are hashed again next time.
        settled = info.st_mtime_ns < time.time_ns() - _RACY_NS
        self.stats[name] = [*signature, digest if settled else ""]
        return digest

    def blob_path(self, digest: str) -> Path:
        return self.folder / "blobs" / digest[:2] / digest

    def meta(self, digest: str) -> dict[str, Any] | None:
        """Cached metadata; the blob is trusted to exist (load() says what to do if not)."""
        return self.index.get(digest)

    def store(self, digest: str, artefacts: Artefacts) -> None:
        """Write one post's blob (called from worker processes; each writes its own files)."""
        parts = [getattr(artefacts, name) for name in _PARTS]
        header = _HEADER.pack(*(len(p) for p in parts))
        write_bytes(self.blob_path(digest), header + b"".join(parts))

    def load(self, digest: str) -> dict[str, bytes]:
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise CacheDamagedError(
                f"the build cache in {self.folder} is missing an entry; delete that folder "
                "and build again"
            ) from exc
        sizes = _HEADER.unpack_from(data)
        out, offset = {}, _HEADER.size
        for name, size in zip(_PARTS, sizes, strict=True):
            out[name] = data[offset : offset + size]
            offset += size
        return out

    def save_index(
        self, entries: dict[str, dict[str, Any]], stats: dict[str, list[Any]] | None = None
    ) -> None:
        """Keep only this build's entries, and delete blobs nothing refers to any more."""
        old = set(self.index)
        document = {"entries": entries, "stats": stats or {}}
        write_text(self.index_path, json.dumps(document, ensure_ascii=False, sort_keys=True))
        self._index = entries
        for digest in old - set(entries):
            with contextlib.suppress(FileNotFoundError):
                self.blob_path(digest).unlink()


def stale(previous: Iterable[str], current: Iterable[str]) -> set[str]:
    return set(previous) - set(current)
