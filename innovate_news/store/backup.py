"""Backing up and restoring the durable state folder: its SQLite databases and small private files
(the generated link-signing secret), packed into one zip archive with a manifest.

A database is copied with SQLite's online backup API, so a backup taken while a send or the list
service writes holds the last committed state, and a restore writes into the live database file
in one step, which a running process sees at its next read. Which files make up the state is the
caller's to say (`Parts`): the sign-ups database and the secret belong to `audience`, which this
layer does not import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from innovate_news import __version__
from innovate_news.errors import BackupError, IssueLockedError
from innovate_news.output import atomic, private_folder, write_bytes
from innovate_news.store import locks

MANIFEST = "manifest.json"
FORMAT = 1
_TIMEOUT = 30.0  # seconds to wait for another process's write transaction to end
_MAX_FILE = 64 * 1024  # the private files are a few bytes; anything larger was not made by us
_CHUNK = 1 << 20
# Beside the send locks live the build's (site.build) and the subscriber list's
# (audience.listfile): they guard the site and the CSV, which a restore does not touch.
_OTHER_LOCKS = re.compile(r"build\.lock|list-[0-9a-f]{16}\.lock")


@dataclass(frozen=True)
class Parts:
    """What the durable state is made of: file names in the state folder."""

    databases: tuple[str, ...]
    files: tuple[str, ...]  # small private files, copied as they are (the generated secret)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.databases, *self.files)


@dataclass(frozen=True)
class BackupReport:
    path: Path
    saved: tuple[str, ...]  # in the archive
    missing: tuple[str, ...]  # not in the state folder, so not in the archive
    created: str


@dataclass(frozen=True)
class RestoreReport:
    path: Path
    restored: tuple[str, ...]
    absent: tuple[str, ...]  # not in the archive: the state folder's copy was left as it is
    changed: tuple[str, ...]  # private files whose content the restore replaced
    created: str  # when the backup was taken
    version: str  # the innovate-news version that took it


def backup(folder: Path, parts: Parts, path: Path, now: dt.datetime | None = None) -> BackupReport:
    """Write the state in `folder` to the archive `path` (owner-only, atomically replaced)."""
    present = tuple(name for name in parts.names if (folder / name).is_file())
    if not present:
        raise BackupError(
            f"{path}: nothing to back up: none of {', '.join(parts.names)} is in {folder}"
        )
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=folder) as tmp:
        staged: dict[str, Path] = {}
        for name in present:
            staged[name] = Path(tmp) / name
            if name in parts.databases:
                _copy_database(folder / name, staged[name])
            else:
                _copy_file(folder / name, staged[name])
        manifest = {
            "format": FORMAT,
            "tool": "innovate-news",
            "version": __version__,
            "created": created,
            "files": {name: _describe(copy) for name, copy in staged.items()},
            "missing": [name for name in parts.names if name not in staged],
        }
        try:
            with (
                # Absolute: the temp file goes beside the archive, which needs its folder named.
                atomic(path.absolute(), durable=True, private=True) as handle,
                zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
            ):
                archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
                for name, copy in staged.items():
                    archive.write(copy, name)
        except OSError as exc:
            raise BackupError(f"{path}: could not be written: {exc}") from exc
    missing = tuple(name for name in parts.names if name not in staged)
    return BackupReport(path, present, missing, created)


def restore(folder: Path, parts: Parts, path: Path) -> RestoreReport:
    """Put the state in the archive `path` back into `folder`, refusing while a send runs.

    The whole archive is checked before anything is written: every member a known file name,
    each matching its checksum, each database sound. A part the archive lacks is left as it is.
    """
    private_folder(folder)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=folder) as tmp:
        manifest, staged = _unpack(path, parts, Path(tmp))
        changed = []
        with _no_send_running(folder / "locks", path):
            for name, copy in staged.items():
                live = folder / name
                if name in parts.databases:
                    _restore_database(copy, live)
                    continue
                data = copy.read_bytes()
                if not live.is_file() or live.read_bytes() != data:
                    changed.append(name)
                write_bytes(live, data, durable=True, private=True)
    return RestoreReport(
        path,
        restored=tuple(staged),
        absent=tuple(name for name in parts.names if name not in staged),
        changed=tuple(changed),
        created=str(manifest.get("created", "")),
        version=str(manifest.get("version", "")),
    )


# Backing up ------------------------------------------------------------------------------


def _copy_database(live: Path, copy: Path) -> None:
    """A consistent copy of a live database: the last committed state, as one plain file."""
    _create_private(copy)
    try:
        with (
            contextlib.closing(_connect(live)) as source,
            contextlib.closing(_connect(copy)) as target,
        ):
            source.backup(target)  # every page in one step, under one read transaction
            target.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
            _check_sound(target, f"{live}: the copy")
    except sqlite3.Error as exc:
        raise BackupError(f"{live}: could not be backed up: {exc}") from exc


def _copy_file(live: Path, copy: Path) -> None:
    data = live.read_bytes()
    _create_private(copy)
    copy.write_bytes(data)


def _describe(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


# Checking an archive ---------------------------------------------------------------------


def _unpack(path: Path, parts: Parts, into: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The archive's manifest and its parts, extracted into `into`, each checked."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{path}: not a backup archive: {exc}") from exc
    with archive:
        names = _check_names(path, parts, [info.filename for info in archive.infolist()])
        manifest = _read_manifest(path, archive)
        listed: Mapping[str, Any] = manifest["files"]
        if set(listed) != set(names):
            raise BackupError(
                f"{path}: the manifest lists {', '.join(sorted(listed)) or 'nothing'} but the "
                f"archive holds {', '.join(sorted(names)) or 'nothing'}"
            )
        staged = {}
        for name in names:
            if name in parts.files and archive.getinfo(name).file_size > _MAX_FILE:
                raise BackupError(f"{path}: {name} is too large to be what innovate-news wrote")
            staged[name] = into / name
            digest = _extract(archive, name, staged[name])
            if not isinstance(listed[name], dict) or digest != listed[name].get("sha256"):
                raise BackupError(
                    f"{path}: {name} does not match its checksum in the manifest: the archive "
                    "is damaged or was changed"
                )
    for name, copy in staged.items():
        if name in parts.databases:
            _check_database(copy, f"{path}: {name}")
        else:
            _check_file(copy, f"{path}: {name}")
    return manifest, staged


def _check_names(path: Path, parts: Parts, names: list[str]) -> list[str]:
    """The archive's members but the manifest; a path, an unknown name or a repeat is refused."""
    known = {MANIFEST, *parts.names}
    for name in names:
        if "/" in name or "\\" in name or ".." in name or "\x00" in name:
            raise BackupError(
                f"{path}: refusing member {name!r}: a backup holds plain file names, not paths"
            )
        if name not in known:
            raise BackupError(
                f"{path}: unknown member {name!r}: a backup holds only {', '.join(sorted(known))}"
            )
    if len(set(names)) != len(names):
        raise BackupError(f"{path}: a member appears twice")
    if MANIFEST not in names:
        raise BackupError(f"{path}: no {MANIFEST}: not a backup made by innovate-news")
    return [name for name in names if name != MANIFEST]


def _read_manifest(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    if archive.getinfo(MANIFEST).file_size > _MAX_FILE:
        raise BackupError(f"{path}: {MANIFEST} is too large")
    try:
        manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{path}: {MANIFEST} is not readable JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("tool") != "innovate-news":
        raise BackupError(f"{path}: {MANIFEST} is not that of an innovate-news backup")
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{path}: backup format {manifest.get('format')!r} is not one this version reads "
            f"({FORMAT}); it was made by innovate-news {manifest.get('version')}"
        )
    if not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{path}: {MANIFEST} does not list the files")
    return manifest


def _extract(archive: zipfile.ZipFile, name: str, target: Path) -> str:
    """Copy one member to `target` (owner-only) and return its SHA-256."""
    digest = hashlib.sha256()
    _create_private(target)
    try:
        with archive.open(name) as source, target.open("wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BackupError(f"{archive.filename}: {name} could not be read: {exc}") from exc
    return digest.hexdigest()


def _check_database(copy: Path, label: str) -> None:
    try:
        with contextlib.closing(_connect(copy)) as db:
            _check_sound(db, label)
            (tables,) = db.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{label} is not a sound SQLite database: {exc}") from exc
    if not tables:
        raise BackupError(f"{label} is an empty database: restoring it would lose the state")


def _check_sound(db: sqlite3.Connection, label: str) -> None:
    rows = db.execute("PRAGMA integrity_check").fetchall()
    if rows != [("ok",)]:
        found = "; ".join(str(row[0]) for row in rows[:3])
        raise BackupError(f"{label} fails SQLite's integrity check: {found}")


def _check_file(copy: Path, label: str) -> None:
    try:
        text = copy.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BackupError(f"{label} is not text") from None
    if not text.strip():
        raise BackupError(f"{label} is empty")


# Restoring -------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_send_running(folder: Path, archive: Path) -> Iterator[None]:
    """Hold every issue's send lock for the block; refuse at once if a send holds one."""
    with contextlib.ExitStack() as held:
        found = sorted(folder.glob("*.lock")) if folder.is_dir() else []
        for lock in found:
            if _OTHER_LOCKS.fullmatch(lock.name):
                continue
            try:
                held.enter_context(locks.hold(folder, lock.stem))
            except IssueLockedError as exc:
                raise IssueLockedError(
                    f"cannot restore {archive} while a send runs: {exc}"
                ) from None
        yield


def _restore_database(copy: Path, live: Path) -> None:
    """Write `copy` into the live database in one step; its readers see the new state next."""
    _create_private(live)
    try:
        with (
            contextlib.closing(_connect(copy)) as source,
            contextlib.closing(_connect(live)) as target,
        ):
            target.execute("PRAGMA journal_mode=WAL")  # as store.database keeps every database
            source.backup(target)
    except sqlite3.Error as exc:
        raise BackupError(f"{live}: could not be restored: {exc}") from exc
    for part in (live, live.with_name(f"{live.name}-wal"), live.with_name(f"{live.name}-shm")):
        with contextlib.suppress(FileNotFoundError):
            part.chmod(0o600)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=_TIMEOUT, isolation_level=None)


def _create_private(path: Path) -> None:
    """Create `path` empty and owner-only if it does not exist (SQLite would make it 0644)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
