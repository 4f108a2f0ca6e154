"""The build cache: each post's artefacts, keyed by a digest of its inputs (site/keys.py).

Disposable: anything missing, truncated, corrupt or written by another version of the tool is
a miss (that post is rendered again), never an error the user must fix by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import marshal
import os
import shutil
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from innovate_news.errors import InnovateNewsError
from innovate_news.output import write_bytes

if TYPE_CHECKING:
    from innovate_news.content.record import PostRecord
    from innovate_news.settings import Settings
    from innovate_news.site.artefacts import Artefacts

_RACY_NS = 2_000_000_000
_PARTS = ("page", "rss", "atom", "json", "ics", "ended", "bib", "ris", "csl")  # ended: a past
# event's page; bib, ris, csl: citation files (empty when the post has none)
_SPAN = struct.Struct("<QQ")  # where one part sits in a pack: offset, size
_CHECK = hashlib.sha256().digest_size
# A pack's name, each part's span in it, and the pack's size and mtime when written: a pack
# changed or cut short since then no longer matches, and its posts are rendered again.
Location = tuple[str, bytes, int, int]


class Row(TypedDict):
    """A post in the index: what a build needs of every post every time (to sort, choose and
    decide what to write); the rest of its record stays packed in `detail`, opened for the few
    posts a page shows, so loading the index builds a dozen objects per post, not sixty."""

    slug: str
    kind: str
    path: str
    draft: bool
    ts: float
    updated_ts: float
    starts: float | None
    ends: float | None
    digest: str
    title: str  # for the previous/next links of its neighbours (site.postpages)
    tags: list[str]  # for the tag pages (site.tags)
    date: str  # as the record has it: what a list page shows (site.listing)
    cites: bool  # has citation files beside its page (site.citations)
    outputs: list[dict[str, Any]]  # its research outputs, for the outputs page (site.outputs)
    detail: bytes
    pack: Location


_ROW = ("slug", "kind", "path", "draft", "ts", "updated_ts", "starts", "ends", "digest", "cites")
_ROW += ("title", "tags", "outputs", "date")  # type: ignore[assignment]  # see Row
ROW_FIELDS = frozenset(_ROW)  # what a row holds of its record (site.listing)


def folder(settings: Settings) -> Path:
    """The build cache: disposable, apart from the durable state beside it."""
    return settings.folder("state") / "cache"


def clear(settings: Settings) -> Path:
    """Remove the build cache (and nothing else); the next build renders every post again."""
    found = folder(settings)
    shutil.rmtree(found, ignore_errors=True)
    return found


class CacheError(InnovateNewsError):
    """The cache folder cannot be written (permissions, a file in its place, a full disk)."""


def compact(record: PostRecord, location: Location) -> Row:
    """A post's record as the index keeps it: the row fields, the rest packed."""
    detail = {k: v for k, v in record.items() if k not in _ROW}
    row: dict[str, Any] = {name: record[name] for name in _ROW}  # type: ignore[literal-required]
    row.update(detail=marshal.dumps(detail), pack=location)
    return row  # type: ignore[return-value]


def expand(row: Row) -> PostRecord:
    """A post's whole record again, from its row in the index."""
    detail: dict[str, Any] = marshal.loads(row["detail"])  # noqa: S302 - written by compact
    record = {name: row[name] for name in _ROW}  # type: ignore[literal-required]
    return cast("PostRecord", {**record, **detail})


Run = tuple[str, int, int]  # a pack's name, an offset in it and a length


def runs(locations: list[Location], part: str, lead: int = 0) -> list[Run]:
    """The bytes of one part of each location, in order, as runs: entries that follow each
    other in a pack are one run (and one copy), `lead` bytes are left off the first."""
    position = _SPAN.size * _PARTS.index(part)
    found: list[list[Any]] = []
    for name, spans, _, _ in locations:
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


def _load(path: Path, stamp: str) -> Any:
    """A cache file's value, or None when it is missing, damaged or from another version of
    the tool (its stamp, the build fingerprint of the code, differs): a cold build follows."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = stamp.encode()
    body = data[len(head) + _CHECK :]
    if data[: len(head)] != head or data[len(head) : len(head) + _CHECK] != _digest(body):
        return None
    enabled = gc.isenabled()
    # Up to hundreds of thousands of new objects, none of them garbage: left on, the cycle
    # collector would walk all of them several times over while they load.
    gc.disable()
    try:
        # marshal, not JSON: several times faster for 10,000 entries, and like JSON it only
        # ever builds plain values (no code runs on load, unlike pickle).
        return marshal.loads(body)  # noqa: S302 - see above
    except (ValueError, EOFError, TypeError):
        return None
    finally:
        if enabled:
            gc.enable()


def _dump(path: Path, stamp: str, value: Any) -> None:
    body = marshal.dumps(value)
    _write(path, stamp.encode() + _digest(body) + body)


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _write(path: Path, data: bytes) -> None:
    try:
        write_bytes(path, data)
    except OSError as exc:
        raise CacheError(
            f"cannot write the build cache in {path.parent}: {exc.strerror or exc}; "
            "check that folder's permissions and free space (it is safe to delete)"
        ) from exc


class Cache:
    """Packs of artefacts on disk, and an index of their rows loaded once a build.

    The index (each post's row, by key) is apart from what every build reads first (the
    sources' stats, the frames): a build that renders every post again, after a settings or
    template change, never loads it. Both files carry the code's fingerprint and a checksum.
    """

    def __init__(self, folder: Path, stamp: str):
        self.folder = folder
        self.stamp = stamp  # keys.code(): a cache written by other code is not read
        self.index_path = folder / "index.marshal"
        self.state_path = folder / "state.marshal"
        self._index: dict[str, Row] | None = None
        self._state_loaded = False
        self._old_stats: dict[str, list[Any]] = {}
        self.stats: dict[str, list[Any]] = {}
        self._old_frames: dict[str, tuple[bytes, bytes]] = {}
        self.frames: dict[str, tuple[bytes, bytes]] = {}
        self._fds: dict[str, int] = {}
        self._signatures: dict[str, list[Any]] = {}
        self._packs: dict[str, bool] = {}
        # A digest of every template the last build compiled without error (see build).
        self.templates_checked = ""
        # The last build's issue pages: (digest of the issue files, each issue's date, key of
        # the pages, the pages as (path, bytes, link)).
        self.issues: tuple[str, list[float], str, list[Any]] | None = None

    @property
    def index(self) -> dict[str, Row]:
        if self._index is None:
            loaded = _load(self.index_path, self.stamp)
            self._index = loaded if isinstance(loaded, dict) else {}
        return self._index

    def _load_state(self) -> None:
        if not self._state_loaded:
            self._state_loaded = True
            loaded = _load(self.state_path, self.stamp)
            if isinstance(loaded, dict):
                self._old_stats = loaded.get("stats") or {}
                self._old_frames = loaded.get("frames") or {}
                self.templates_checked = str(loaded.get("templates") or "")
                self.issues = loaded.get("issues")

    def previous_issues(self) -> tuple[str, list[float], str, list[Any]] | None:
        """The last build's issue pages (see `issues`)."""
        self._load_state()
        return self.issues

    def previous_templates(self) -> str:
        """The digest of the templates the last build checked."""
        self._load_state()
        return self.templates_checked

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

    def meta(self, digest: str) -> Row | None:
        """A post's cached row, if its pack is still as it was written."""
        row = self.index.get(digest)
        return row if row is not None and self._intact(row["pack"]) else None

    def _intact(self, location: Location) -> bool:
        name, _, size, mtime_ns = location
        intact = self._packs.get(name)
        if intact is None:
            try:
                info = os.stat(self._pack_path(name))  # noqa: PTH116 - one per pack, see known_key
                intact = (info.st_size, info.st_mtime_ns) == (size, mtime_ns)
            except OSError:
                intact = False
            self._packs[name] = intact
        return intact

    def _pack_path(self, name: str) -> str:
        return f"{self.folder}/packs/{name}.pack"

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

    def store_many(self, built: list[tuple[str, Artefacts]]) -> dict[str, Location]:
        """Write a chunk's artefacts as one pack file; return each key's location in it.

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
        path = Path(self._pack_path(name))
        _write(path, b"".join(sections))
        info = path.stat()
        self._packs[name] = True
        return {
            digest: (name, b"".join(packed), info.st_size, info.st_mtime_ns)
            for digest, packed in spans.items()
        }

    def load_part(self, location: Location, part: str) -> bytes:
        """Just one of a post's artefacts (a feed needs only its own format)."""
        name, spans, _, _ = location
        offset, size = _SPAN.unpack_from(spans, _SPAN.size * _PARTS.index(part))
        data = os.pread(self._fd(name), size, offset)
        if len(data) != size:
            raise CacheError(f"the build cache in {self.folder} changed during the build")
        return data

    def copy_runs(self, runs: list[Run], out_fd: int) -> None:
        """Append each run of bytes to an open file inside the kernel (sendfile), without
        reading them into Python: a feed of 10,000 entries is mostly this."""
        for name, offset, size in runs:
            self._send(name, offset, size, out_fd)

    def _send(self, name: str, offset: int, left: int, out_fd: int) -> None:
        while left:
            sent = os.sendfile(out_fd, self._fd(name), offset, left)
            if sent == 0:
                raise CacheError(f"the build cache in {self.folder} changed during the build")
            offset, left = offset + sent, left - sent

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            # Every pack was checked (meta) or written by this build before it is read, so
            # only something removing files during the build gets here.
            try:
                fd = os.open(self._pack_path(name), os.O_RDONLY)
            except FileNotFoundError as exc:
                raise CacheError(
                    f"the build cache in {self.folder} changed during the build"
                ) from exc
            self._fds[name] = fd
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def save_index(self, entries: dict[str, Row], stats: dict[str, list[Any]]) -> None:
        """Keep only this build's entries, and delete packs nothing refers to any more."""
        self.close()
        # A crash between the two leaves stats naming keys the index lacks: those posts are
        # simply rendered again.
        _dump(self.index_path, self.stamp, entries)
        state = {
            "stats": stats,
            "frames": self.frames,
            "templates": self.templates_checked,
            "issues": self.issues,
        }
        _dump(self.state_path, self.stamp, state)
        self._index = entries
        live = {row["pack"][0] for row in entries.values()}
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / "packs") as found:
            for entry in found:
                # Temp files too: a build killed while writing a pack leaves one behind.
                unused = entry.name.endswith(".pack") and entry.name[:-5] not in live
                if unused or entry.name.endswith(".tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        Path(entry.path).unlink()


def published(metas: dict[str, Row], now: dt.datetime) -> list[tuple[str, Row]]:
    """Published posts, newest first (ties broken by slug so the order never wobbles)."""
    moment = now.timestamp()  # timestamps, not dates parsed again for each of 10,000 posts
    chosen = [(key, row) for key, row in metas.items() if not row["draft"] and row["ts"] <= moment]
    chosen.sort(key=lambda item: (item[1]["ts"], item[1]["slug"]))
    chosen.reverse()
    return chosen
