"""The build cache in the state folder: each post's artefacts, keyed by a hash of its inputs.

The key covers the post's bytes, the settings, the templates and the package version, so an
edit to any of them invalidates exactly the entries it affects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import importlib.util
import marshal
import os
import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news import __version__
from innovate_news.errors import InnovateNewsError
from innovate_news.output import write_bytes

if TYPE_CHECKING:
    from innovate_news.site.artefacts import Artefacts

_RACY_NS = 2_000_000_000
# Bumped whenever what the cache holds changes shape, so an older cache is rebuilt, not misread.
_FORMAT = "6"
_PARTS = ("page", "rss", "atom", "json", "ics")
_SPAN = struct.Struct("<QQ")  # where one part sits in a pack: offset, size
# What a build needs of every post every time (to sort, choose and decide what to write).
# The rest of a post's metadata stays packed in "detail", opened for the few posts a page
# shows: loading the index then builds a dozen objects per post, not sixty.
ROW = ("slug", "kind", "path", "draft", "ts", "updated_ts", "starts", "ends", "listing")


class CacheDamagedError(InnovateNewsError):
    """A blob the index promises is gone (someone removed files from the state folder)."""


def fingerprint(*parts: str) -> str:
    sha = hashlib.sha256(f"{__version__}/{_FORMAT}".encode())
    for part in parts:
        sha.update(b"\x00" + part.encode())
    return sha.hexdigest()


def compact(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A post's metadata as the index keeps it: the ROW fields, the rest packed."""
    row = {name: meta[name] for name in ROW}
    row["detail"] = marshal.dumps({k: v for k, v in meta.items() if k not in ROW})
    return row


def expand(row: dict[str, Any]) -> dict[str, Any]:
    """A post's whole metadata again, from its row in the index."""
    detail: dict[str, Any] = marshal.loads(row["detail"])  # noqa: S302 - written by compact
    return {**row, **detail}


Run = tuple[str, int, int]  # a pack's name, an offset in it and a length


def runs(locations: list[list[Any]], part: str, lead: int = 0) -> list[Run]:
    """The bytes of one part of each location, in order, as runs: entries that follow each
    other in a pack are one run (and one copy), `lead` bytes are left off the first."""
    position = _SPAN.size * _PARTS.index(part)
    found: list[list[Any]] = []
    for name, spans in locations:
        offset, size = _SPAN.unpack_from(spans, position)
        last = found[-1] if found else None
        if last is not None and last[0] == name and last[1] + last[2] == offset:
            last[2] += size
        else:
            found.append([name, offset, size])
    if found:
        found[0][1] += lead
        found[0][2] -= lead
    return [(name, offset, size) for name, offset, size in found]


def installed(*modules: str) -> str:
    """Where and when each module was installed: part of a key for what a library makes.

    Found without importing the module (which is what a cached result saves).
    """
    stamps = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        stamp = Path(origin).stat().st_mtime_ns if origin else 0
        stamps.append(f"{name}:{origin}:{stamp}")
    return "\n".join(stamps)


def key(data: bytes, build_fingerprint: str) -> str:
    return hashlib.sha256(build_fingerprint.encode() + b"\x00" + data).hexdigest()


def source_key(path: Path, data: bytes, build_fingerprint: str) -> str:
    """The path is hashed too: two files with the same bytes are still two posts."""
    return key(bytes(path) + b"\x00" + data, build_fingerprint)


def _load(path: Path) -> Any:
    """A marshal file's value, or None when it is missing or damaged (a cold build follows)."""
    enabled = gc.isenabled()
    # Up to hundreds of thousands of new objects, none of them garbage: left on, the cycle
    # collector would walk all of them several times over while they load.
    gc.disable()
    try:
        # marshal, not JSON: several times faster for 10,000 entries, and like JSON it only
        # ever builds plain values (no code runs on load, unlike pickle).
        return marshal.loads(path.read_bytes())  # noqa: S302 - see above
    except (FileNotFoundError, ValueError, EOFError, TypeError):
        return None
    finally:
        if enabled:
            gc.enable()


class Cache:
    """Packs of artefacts on disk, and an index of their metadata loaded once a build.

    The index (each post's metadata, by key) is apart from what every build reads first (the
    sources' stats, the frames): a build that renders every post again, after a settings or
    template change, never loads it.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.index_path = folder / "index.marshal"
        self.state_path = folder / "state.marshal"
        self._index: dict[str, dict[str, Any]] | None = None
        self._state_loaded = False
        self._old_stats: dict[str, list[Any]] = {}
        self.stats: dict[str, list[Any]] = {}
        self._old_frames: dict[str, tuple[bytes, bytes]] = {}
        self.frames: dict[str, tuple[bytes, bytes]] = {}
        self._fds: dict[str, int] = {}
        self._signatures: dict[str, list[Any]] = {}

    @property
    def index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            loaded = _load(self.index_path)
            self._index = loaded if isinstance(loaded, dict) else {}
        return self._index

    def _load_state(self) -> None:
        if not self._state_loaded:
            self._state_loaded = True
            loaded = _load(self.state_path)
            if isinstance(loaded, dict):
                self._old_stats = loaded.get("stats") or {}
                self._old_frames = loaded.get("frames") or {}

    def known_key(self, path: Path, build_fingerprint: str) -> str | None:
        """A source's key from the last build when its size and mtime are unchanged (as git
        does), else None: it must be read and hashed (which the build's workers do)."""
        self._load_state()
        info = os.stat(path)  # noqa: PTH116 - thousands of calls; pathlib adds overhead
        signature = [info.st_mtime_ns, info.st_size, info.st_ino, build_fingerprint]
        old = self._old_stats.get(str(path))
        self._signatures[str(path)] = signature
        if old is not None and old[:4] == signature and old[4]:
            return str(old[4])
        return None

    def known_before(self, path: Path, build_fingerprint: str) -> bool:
        """Whether the last build read `path` with the same settings and templates."""
        self._load_state()
        old = self._old_stats.get(str(path))
        return old is not None and old[3] == build_fingerprint

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

    def frame(
        self, digest: str, make: Callable[[], tuple[bytes, bytes]] | None
    ) -> tuple[bytes, bytes]:
        """A feed's or calendar's head and tail, kept from the last build when `digest` (of
        everything that goes into it) is unchanged: making one imports feedgen or icalendar,
        a good part of a warm build's time. With no `make`, a frame this build does not
        need is only kept for the next (and empty bytes come back)."""
        self._load_state()
        found = self._old_frames.get(digest)
        if found is None and make is not None:
            found = make()
        if found is not None:
            self.frames[digest] = found
        return found if make is not None and found is not None else (b"", b"")

    def store_many(self, built: list[tuple[str, Artefacts]]) -> dict[str, list[Any]]:
        """Write a chunk's artefacts as one pack file; return each key's location in it:
        the pack's name, and an offset and a size for each part (packed: one object, not ten,
        for the index to load).

        One file per chunk rather than per post: creating files is the slow part of a cold
        build, and reading a feed's entries back from a few packs beats thousands of opens.
        Inside a pack each part's entries sit together, newest post first (posts are named by
        date, so a chunk runs oldest to newest): a feed's entries from one pack are then one
        run of bytes, copied with one call.
        """
        name = hashlib.sha256("\n".join(k for k, _ in built).encode()).hexdigest()[:32]
        spans: dict[str, list[bytes]] = {digest: [] for digest, _ in built}
        sections: list[bytes] = []
        offset = 0
        for part in _PARTS:
            for digest, artefacts in reversed(built):
                data = getattr(artefacts, part)
                spans[digest].append(_SPAN.pack(offset, len(data)))
                sections.append(data)
                offset += len(data)
        write_bytes(self.folder / "packs" / f"{name}.pack", b"".join(sections))
        return {digest: [name, b"".join(packed)] for digest, packed in spans.items()}

    def load_part(self, location: list[Any], part: str) -> bytes:
        """Just one of a post's artefacts (a feed needs only its own format)."""
        name, spans = location
        offset, size = _SPAN.unpack_from(spans, _SPAN.size * _PARTS.index(part))
        return os.pread(self._fd(name), size, offset)

    def copy_runs(self, runs: list[Run], out_fd: int) -> None:
        """Append each run of bytes to an open file inside the kernel (sendfile), without
        reading them into Python: a feed of 10,000 entries is mostly this."""
        for name, offset, size in runs:
            self._send(name, offset, size, out_fd)

    def _send(self, name: str, offset: int, left: int, out_fd: int) -> None:
        while left:
            sent = os.sendfile(out_fd, self._fd(name), offset, left)
            if sent == 0:
                raise CacheDamagedError(f"the build cache in {self.folder} is truncated")
            offset, left = offset + sent, left - sent

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
        # A crash between the two leaves stats naming keys the index lacks: those posts are
        # simply rendered again.
        write_bytes(self.index_path, marshal.dumps(entries))
        write_bytes(self.state_path, marshal.dumps({"stats": stats or {}, "frames": self.frames}))
        self._index = entries
        live = {meta["_pack"][0] for meta in entries.values()}
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / "packs") as found:
            for entry in found:
                if entry.name.endswith(".pack") and entry.name[:-5] not in live:
                    with contextlib.suppress(FileNotFoundError):
                        Path(entry.path).unlink()


def published(
    metas: dict[str, dict[str, Any]], now: dt.datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Published posts, newest first (ties broken by slug so the order never wobbles)."""
    moment = now.timestamp()  # timestamps, not dates parsed again for each of 10,000 posts
    chosen = [
        (key, meta) for key, meta in metas.items() if not meta["draft"] and meta["ts"] <= moment
    ]
    chosen.sort(key=lambda item: (item[1]["ts"], item[1]["slug"]))
    chosen.reverse()
    return chosen
