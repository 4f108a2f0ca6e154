"""Personal data is its owner's only: the state folder, its databases, outbox and previews."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from innovate_news import api
from innovate_news.audience import tokens
from innovate_news.audience.signups import Signups
from innovate_news.delivery.providers.outbox import OutboxProvider
from innovate_news.errors import IssueLockedError
from innovate_news.mail import Message
from innovate_news.settings import Settings
from innovate_news.store import locks
from innovate_news.store.ledger import Ledger
from tests.support import NOW, mode
from tests.support.listservice import SECRET


def test_the_ledger_and_sign_ups_with_their_wal_files_are_owner_only(
    settings: Settings, umask: int
) -> None:
    state = settings.folder("state")
    assert not state.exists()
    at = dt.datetime(2024, 5, 6, tzinfo=dt.UTC)
    with Ledger.open(settings) as ledger, Signups.open(settings) as signups:
        ledger.suppress("amelia.hart@example.org", "unsubscribed", "test")
        signups.add("ben.okoro@example.com", "Ben", "", ("v1", "I agree"), at)
        files = [state / f"{db}{part}" for db in ("ledger.sqlite3", "signups.sqlite3")
                 for part in ("", "-wal", "-shm")]  # fmt: skip
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(state) == 0o700


def test_the_first_lock_or_generated_secret_makes_the_state_folder_owner_only(
    settings: Settings, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = settings.folder("state")
    with locks.exclusive(state / "locks" / "build.lock", IssueLockedError):
        assert mode(state) == mode(state / "locks") == 0o700
        assert mode(state / "locks" / "build.lock") == 0o600
    state.joinpath("locks", "build.lock").unlink()
    state.joinpath("locks").rmdir()
    state.rmdir()
    monkeypatch.delenv(tokens.ENV, raising=False)
    ring = tokens.keyring(settings, allow_generated=True)
    assert ring.generated == state / tokens.GENERATED_FILE
    assert (mode(state), mode(state / tokens.GENERATED_FILE)) == (0o700, 0o600)


def test_an_existing_state_folder_keeps_its_mode(settings: Settings, umask: int) -> None:
    state = settings.folder("state")
    state.mkdir()
    state.chmod(0o750)  # the owner chose to share it with a group: not ours to undo
    Ledger.open(settings).close()
    assert mode(state) == 0o750
    assert mode(state / "ledger.sqlite3") == 0o600


def test_outbox_files_are_owner_only(tmp_path: Path, umask: int) -> None:
    outbox = OutboxProvider(tmp_path / "outbox" / "2024-05-issue")
    outbox.open()
    message = Message("amelia.hart@example.org", "<1@example.org>", b"Subject: hi\r\n\r\nhi\r\n")
    [receipt] = outbox.send([message])
    assert receipt.status == "sent"
    assert mode(outbox.folder / receipt.provider_id) == 0o600


def test_every_preview_file_is_owner_only(
    settings: Settings, umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tokens.ENV, SECRET)
    written = api.preview(settings, "2023-06-guidance-year", out=tmp_path / "preview", now=NOW)
    for path in (written.html, written.text, written.eml):
        assert b"/unsubscribe?t=" in path.read_bytes()  # a working link: hence private
        assert mode(path) == 0o600, path
