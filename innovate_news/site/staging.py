"""The output folder, changed only once a build has every file ready.

Files are written to a staging folder beside the output; only when every page, feed and issue
page is there are they renamed into place. A build that fails leaves the site as it was; one
killed while renaming leaves a manifest that marks the files it was moving as unknown, so the
next build writes them again. The manifest records each file's key, size and mtime: a file
deleted or edited by hand since the last build is written again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from innovate_news import output

# os functions on str paths, not pathlib, in the loops here: they run for every file of a
# site of 10,000 posts, where pathlib's objects cost more than the system calls.
# ruff: noqa: PTH103, PTH105, PTH116, PTH120
from innovate_news.errors import InnovateNewsError

# A file's key, size and mtime (ns) when the last build wrote or checked it; -1 while unknown.
Entry = list[object]
_UNKNOWN = -1


def stage_folder(out: Path) -> Path:
    """Beside the output (never inside it, so a crash leaves no stray folder in the site),
    unless that is another file system, where renaming into place would be a copy."""
    beside = out.parent / f".{out.name}.building"
    try:
        if os.stat(out.parent).st_dev == os.stat(out).st_dev:
            return beside
    except FileNotFoundError:
        return beside
    return out / ".innovate-news-building"


def create(stage: Path | str, relative: str) -> int:
    """A new file in the staging folder, open for writing. No temp file and rename: nothing
    reads the staging folder until the build commits it, and a failed build discards it."""
    path = f"{stage}/{relative}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o666)


def write(stage: Path | str, relative: str, data: bytes) -> None:
    """Write one staged file (`relative` was checked by `Output.path`)."""
    fd = create(stage, relative)
    try:
        output.write_all(fd, data, Path(stage, relative))
    finally:
        os.close(fd)


class Output:
    """What the build writes, staged; `commit` puts it in place and removes what went away."""

    def __init__(self, out: Path, manifest_path: Path):
        self.out = out
        self.manifest_path = manifest_path
        self.previous = _load(manifest_path)
        self.current: dict[str, Entry] = {}
        self.staged: dict[str, str] = {}  # relative path: key
        out.mkdir(parents=True, exist_ok=True)
        self.stage = stage_folder(out)
        shutil.rmtree(self.stage, ignore_errors=True)  # left by a build that was killed

    def unchanged(self, relative: str, key: str) -> bool:
        """Whether the file the last build wrote from `key` is still there, as written."""
        old = self.previous.get(relative)
        if old is None or old[0] != key or old[1] == _UNKNOWN:
            return False
        try:
            info = os.stat(f"{self.out}/{relative}")
        except OSError:
            return False
        if [info.st_size, info.st_mtime_ns] != old[1:]:
            return False
        self.current[relative] = old
        return True

    def path(self, relative: str, key: str) -> Path:
        """Where to write `relative` now (in the staging folder); it is committed later."""
        target = output.inside(self.stage, relative)
        output.inside(self.out, relative)  # the same check against the folder it lands in
        self.staged[relative] = key
        return target

    def commit(self) -> int:
        """Rename every staged file into the output, remove the files no longer built, and
        record the result. Returns how many files were removed."""
        # Until the renames are done, the manifest marks the files being moved as unknown.
        moving = {relative: [key, _UNKNOWN, _UNKNOWN] for relative, key in self.staged.items()}
        _save(self.manifest_path, {**self.previous, **moving})
        if self._into_empty():
            return 0
        for relative, key in self.staged.items():
            target = f"{self.out}/{relative}"
            try:
                os.replace(f"{self.stage}/{relative}", target)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(f"{self.stage}/{relative}", target)
            info = os.stat(target)
            self.current[relative] = [key, info.st_size, info.st_mtime_ns]
        removed = self._remove_stale()
        _save(self.manifest_path, self.current)
        self.abandon()
        return removed

    def _into_empty(self) -> bool:
        """A first build into an empty folder: one rename of the whole staging folder puts the
        site in place, where moving its files one by one would cost a rename each."""
        if self.previous or self.stage.parent != self.out.parent:
            return False
        with os.scandir(self.out) as entries:
            if next(entries, None) is not None:
                return False
        for relative, key in self.staged.items():
            info = os.stat(f"{self.stage}/{relative}")
            self.current[relative] = [key, info.st_size, info.st_mtime_ns]
        self.out.rmdir()
        self.stage.rename(self.out)
        _save(self.manifest_path, self.current)
        return True

    def abandon(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)

    def _remove_stale(self) -> int:
        removed = 0
        for relative in sorted(set(self.previous) - set(self.current)):
            with contextlib.suppress(FileNotFoundError, InnovateNewsError):
                target = output.inside(self.out, relative)
                target.unlink()
                removed += 1
                with contextlib.suppress(OSError):
                    if target.parent != self.out:
                        target.parent.rmdir()  # only succeeds when empty
        return removed


def _load(path: Path) -> dict[str, Entry]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    # An entry of another shape (an older manifest) is kept only to remove its file later.
    return {
        str(relative): entry if _valid(entry) else ["", _UNKNOWN, _UNKNOWN]
        for relative, entry in loaded.items()
    }


def _valid(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and all(isinstance(n, int) for n in entry[1:])
    )


def _save(path: Path, entries: dict[str, Entry]) -> None:
    output.write_text(path, json.dumps(entries, sort_keys=True, separators=(",", ":")))
