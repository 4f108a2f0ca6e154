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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .artefacts import Artefacts
from .output import write_bytes, write_text

_PARTS = ("page", "rss", "atom", "json", "ics")
_HEADER = struct.Struct("<5I")


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

    @property
    def index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            try:
                loaded = json.loads(self.index_path.read_text(encoding="utf-8"))
                self._index = loaded if isinstance(loaded, dict) else {}
            except (FileNotFoundError, ValueError):
                self._index = {}  # a missing or damaged cache only costs a cold build
        return self._index

    def blob_path(self, digest: str) -> Path:
        return self.folder / "blobs" / digest[:2] / digest

    def meta(self, digest: str) -> dict[str, Any] | None:
        meta = self.index.get(digest)
        return meta if meta is not None and self.blob_path(digest).exists() else None

    def store(self, digest: str, artefacts: Artefacts) -> None:
        """Write one post's blob (called from worker processes; each writes its own files)."""
        parts = [getattr(artefacts, name) for name in _PARTS]
        header = _HEADER.pack(*(len(p) for p in parts))
        write_bytes(self.blob_path(digest), header + b"".join(parts))

    def load(self, digest: str) -> dict[str, bytes]:
        data = self.blob_path(digest).read_bytes()
        sizes = _HEADER.unpack_from(data)
        out, offset = {}, _HEADER.size
        for name, size in zip(_PARTS, sizes, strict=True):
            out[name] = data[offset : offset + size]
            offset += size
        return out

    def save_index(self, entries: dict[str, dict[str, Any]]) -> None:
        """Keep only this build's entries, and delete blobs nothing refers to any more."""
        old = set(self.index)
        write_text(self.index_path, json.dumps(entries, ensure_ascii=False, sort_keys=True))
        self._index = entries
        for digest in old - set(entries):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blob_path(digest))


def stale(previous: Iterable[str], current: Iterable[str]) -> set[str]:
    return set(previous) - set(current)
