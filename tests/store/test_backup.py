"""Backing up and restoring the state folder: round trips, consistency under a writer, refusals."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from innovate_news.audience.listfile import ListFile
from innovate_news.audience.signups import Signups
from innovate_news.errors import BackupError, IssueLockedError
from innovate_news.mail import Receipt
from innovate_news.store import backup, locks
from innovate_news.store.ledger import Ledger

PARTS = backup.Parts(databases=("ledger.sqlite3", "signups.sqlite3"), files=("secret",))
ISSUE = "2023-06-guidance-year"
SECRET = b"a-generated-secret-of-enough-length-000\n"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state folder with deliveries, a test send, suppressions, a sign-up and a secret."""
    folder = tmp_path / "state"
    with Ledger(folder / "ledger.sqlite3") as ledger:
        ledger.add(ISSUE, ["a@example.org", "b@example.org"])
        ledger.begin(ISSUE, ["a@example.org", "b@example.org"], "outbox", ["pending"])
        ledger.finish(ISSUE, [Receipt("a@example.org", "sent"), Receipt("b@example.org", "sent")])
        ledger.record_test(ISSUE, "outbox", Receipt("t@example.org", "sent"))
        ledger.suppress("b@example.org", "unsubscribed", "one-click")
        ledger.erase("c@example.org", "pseudonym-c", "command line")
    with Signups(folder / "signups.sqlite3") as signups:
        signups.add("d@example.org", "Dee", "", ("v1", "I agree."), NOW)
    (folder / "secret").write_bytes(SECRET)
    (folder / "secret").chmod(0o600)
    return folder


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a database, in a stable order."""
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}  # noqa: S608


def snapshot(folder: Path) -> dict[str, object]:
    return {
        "ledger": rows(folder / "ledger.sqlite3"),
        "signups": rows(folder / "signups.sqlite3"),
        "secret": (folder / "secret").read_bytes(),
    }


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A umask that would leave new files readable by everyone, unless made owner-only."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_backup_then_restore_round_trips_the_state(
    state: Path, tmp_path: Path, loose_umask: None
) -> None:
    before = snapshot(state)
    archive = tmp_path / "backups" / "state.zip"
    report = backup.backup(state, PARTS, archive)
    assert report.saved == PARTS.names and report.missing == ()
    assert mode(archive) == 0o600
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == sorted([backup.MANIFEST, *PARTS.names])
        manifest = json.loads(opened.read(backup.MANIFEST))
    assert manifest["tool"] == "innovate-news" and manifest["version"] and manifest["created"]
    assert sorted(manifest["files"]) == sorted(PARTS.names)

    # Everything changes after the backup, while the list service keeps its ledger open ...
    with Ledger(state / "ledger.sqlite3") as serving:
        serving.suppress("a@example.org", "complained", "webhook")
        serving.unsuppress("b@example.org")
        with Signups(state / "signups.sqlite3") as signups:
            signups.erase("d@example.org")
        (state / "secret").write_bytes(b"another-secret-of-enough-length-11111\n")
        assert snapshot(state) != before

        done = backup.restore(state, PARTS, archive)
        assert done.restored == PARTS.names and done.absent == () and done.changed == ("secret",)
        assert done.created == manifest["created"]
        # ... and sees the restored state at its next read.
        assert serving.suppressed() == {"b@example.org", "pseudonym-c"}
        assert serving.states(ISSUE) == {"a@example.org": "sent", "b@example.org": "sent"}
    assert snapshot(state) == before
    for name in PARTS.names:
        assert mode(state / name) == 0o600, name


def test_restore_into_an_empty_state_folder(state: Path, tmp_path: Path, loose_umask: None) -> None:
    archive = tmp_path / "state.zip"
    backup.backup(state, PARTS, archive)
    fresh = tmp_path / "elsewhere" / ".innovate-news"
    backup.restore(fresh, PARTS, archive)
    assert snapshot(fresh) == snapshot(state)
    assert {mode(fresh / name) for name in PARTS.names} == {0o600}
    with Ledger(fresh / "ledger.sqlite3") as ledger:  # the usual way in still works
        assert ledger.counts(ISSUE)["sent"] == 2


def test_a_backup_during_an_open_write_transaction_holds_the_last_commit(
    state: Path, tmp_path: Path
) -> None:
    committed = rows(state / "ledger.sqlite3")
    writer = sqlite3.connect(state / "ledger.sqlite3", isolation_level=None, timeout=1)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO suppressions VALUES ('new@example.org', 'bounced', 'webhook', 'now')"
        )
        writer.execute("UPDATE deliveries SET state = 'unknown'")
        backup.backup(state, PARTS, tmp_path / "state.zip")
    finally:
        writer.execute("COMMIT")
        writer.close()
    with zipfile.ZipFile(tmp_path / "state.zip") as opened:
        (tmp_path / "copy.sqlite3").write_bytes(opened.read("ledger.sqlite3"))
    with sqlite3.connect(tmp_path / "copy.sqlite3") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert rows(tmp_path / "copy.sqlite3") == committed
    assert not list(tmp_path.glob("copy.sqlite3-*"))  # the copy stands alone


def test_a_missing_database_is_left_out_and_said(state: Path, tmp_path: Path) -> None:
    (state / "signups.sqlite3").unlink()
    report = backup.backup(state, PARTS, tmp_path / "state.zip")
    assert report.missing == ("signups.sqlite3",)
    with zipfile.ZipFile(tmp_path / "state.zip") as opened:
        assert "signups.sqlite3" not in opened.namelist()
        assert json.loads(opened.read(backup.MANIFEST))["missing"] == ["signups.sqlite3"]
    done = backup.restore(state, PARTS, tmp_path / "state.zip")
    assert done.absent == ("signups.sqlite3",) and "signups.sqlite3" not in done.restored


def test_nothing_to_back_up_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="nothing to back up"):
        backup.backup(tmp_path, PARTS, tmp_path / "state.zip")
    assert not (tmp_path / "state.zip").exists()


def test_restore_is_refused_while_a_send_holds_its_lock(state: Path, tmp_path: Path) -> None:
    archive = tmp_path / "state.zip"
    backup.backup(state, PARTS, archive)
    with Ledger(state / "ledger.sqlite3") as ledger:
        ledger.suppress("z@example.org", "bounced", "webhook")
    after = snapshot(state)
    with locks.hold(state / "locks", ISSUE), pytest.raises(IssueLockedError) as refused:
        backup.restore(state, PARTS, archive)
    assert str(archive) in str(refused.value) and ISSUE in str(refused.value)
    assert snapshot(state) == after
    # The lock file stays once the send is over; it no longer stands in the way.
    backup.restore(state, PARTS, archive)
    suppressed = {row[0] for row in rows(state / "ledger.sqlite3")["suppressions"]}
    assert suppressed == {"b@example.org", "pseudonym-c"}


def test_a_list_write_or_a_build_in_progress_does_not_stop_a_restore(
    state: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "state.zip"
    backup.backup(state, PARTS, archive)
    (state / "locks").mkdir(exist_ok=True)
    with (state / "locks" / "build.lock").open("w") as build:
        fcntl.flock(build, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with ListFile(tmp_path / "subscribers.csv", state / "locks").locked():
            assert backup.restore(state, PARTS, archive).restored == PARTS.names


def rewrite(archive: Path, change: Callable[[dict[str, bytes]], object], manifest: bool) -> None:
    """Rewrite `archive` with its members changed; with `manifest`, checksums made to match."""
    with zipfile.ZipFile(archive) as opened:
        members = {name: opened.read(name) for name in opened.namelist()}
    change(members)
    if manifest:
        listed = json.loads(members[backup.MANIFEST])
        listed["files"] = {
            name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in members.items()
            if name != backup.MANIFEST
        }
        members[backup.MANIFEST] = json.dumps(listed).encode()
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)


def _corrupt(members: dict[str, bytes]) -> None:
    data = bytearray(members["ledger.sqlite3"])
    data[4096 : 4096 + 8] = b"\x42" * 8  # the second page's b-tree header
    members["ledger.sqlite3"] = bytes(data)


TAMPERINGS: dict[str, tuple[Callable[[dict[str, bytes]], object], bool, str]] = {
    "unknown member": (lambda m: m.update({"run.sh": b"rm -rf ~"}), True, "unknown member"),
    "path traversal": (
        lambda m: m.update({"../ledger.sqlite3": m.pop("ledger.sqlite3")}),
        True,
        "not paths",
    ),
    "subfolder": (lambda m: m.update({"x/secret": m.pop("secret")}), True, "not paths"),
    "changed after backup": (
        lambda m: m.update({"secret": b"chosen-by-someone-else-000000000000\n"}),
        False,
        "checksum",
    ),
    "not a database": (
        lambda m: m.update({"ledger.sqlite3": b"hello" * 1000}),
        True,
        "not a sound SQLite database",
    ),
    "damaged database": (_corrupt, True, "SQLite"),
    "no manifest": (lambda m: m.pop(backup.MANIFEST), False, "no manifest.json"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_a_tampered_archive_is_refused_naming_the_file(
    state: Path, tmp_path: Path, tampering: str
) -> None:
    change, fix_manifest, message = TAMPERINGS[tampering]
    archive = tmp_path / "state.zip"
    backup.backup(state, PARTS, archive)
    rewrite(archive, change, fix_manifest)
    with Ledger(state / "ledger.sqlite3") as ledger:
        ledger.suppress("z@example.org", "bounced", "webhook")
    after = snapshot(state)
    with pytest.raises(BackupError, match=message) as refused:
        backup.restore(state, PARTS, archive)
    assert str(refused.value).startswith(f"{archive}: ")
    assert snapshot(state) == after  # nothing was written
    assert not (tmp_path / "ledger.sqlite3").exists()
    assert not list(state.glob(".restore-*"))


def test_a_file_that_is_not_an_archive_is_refused(state: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no such file"):
        backup.restore(state, PARTS, tmp_path / "missing.zip")
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(BackupError, match=f"{tmp_path / 'notes.txt'}: not a backup archive"):
        backup.restore(state, PARTS, tmp_path / "notes.txt")
