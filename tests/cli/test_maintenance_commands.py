"""`innovate-news cache clear` and `innovate-news state backup|restore` through the CLI."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news.audience import tokens
from innovate_news.audience.signups import Signups
from innovate_news.errors import ExitCode
from innovate_news.settings import Settings
from innovate_news.site import cache
from innovate_news.store import locks
from innovate_news.store.ledger import Ledger

Run = Callable[..., Result]
DURABLE = ("ledger.sqlite3", "signups.sqlite3", "secret")


@pytest.fixture
def state(settings: Settings) -> Path:
    """The example project's state folder with every durable part, a cache and manifests."""
    folder = settings.folder("state")
    with Ledger.open(settings) as ledger:
        ledger.add("2023-06-guidance-year", ["a@example.org"])
        ledger.suppress("b@example.org", "unsubscribed", "one-click")
    with Signups.open(settings) as signups:
        signups.add("c@example.org", "Cee", "", ("v1", "I agree."), dt.datetime.now(dt.UTC))
    tokens.keyring(settings, allow_generated=True)  # writes the generated secret
    (cache.folder(settings) / "packs").mkdir(parents=True)
    (cache.folder(settings) / "packs" / "0001.pack").write_bytes(b"rendered posts")
    (folder / "manifests").mkdir()
    (folder / "manifests" / "site.json").write_text("{}")
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in DURABLE}


def test_cache_clear_removes_only_the_cache(run: Run, settings: Settings, state: Path) -> None:
    before = contents(state)
    result = run("cache", "clear")
    assert result.exit_code == 0, result.output
    assert str(cache.folder(settings)) in result.output
    assert "kept the ledger, suppressions, sign-ups and secret" in result.output
    assert not cache.folder(settings).exists()
    assert contents(state) == before  # byte for byte
    assert (state / "manifests" / "site.json").is_file()
    assert run("cache", "clear").exit_code == 0  # nothing left to clear is fine


def test_state_backup_and_restore(
    run: Run, settings: Settings, state: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "backups" / "innovate-news-state.zip"
    made = run("state", "backup", str(archive))
    assert made.exit_code == 0, made.output
    assert f"Backed up ledger.sqlite3, signups.sqlite3, secret to {archive}" in made.output
    assert archive.stat().st_mode & 0o777 == 0o600
    before = contents(state)

    with Ledger.open(settings) as ledger:
        ledger.unsuppress("b@example.org")
    done = run("state", "restore", str(archive))
    assert done.exit_code == 0, done.output
    assert f"Restored ledger.sqlite3, signups.sqlite3, secret from {archive}" in done.output
    with Ledger.open(settings) as ledger:
        assert ledger.suppressed() == {"b@example.org"}
    assert contents(state)["secret"] == before["secret"]
    assert cache.folder(settings).exists()  # a restore leaves the disposable parts alone


def test_a_relative_file_is_written_in_the_current_folder(
    run: Run, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("state", "backup", "state.zip").exit_code == 0
    assert (tmp_path / "state.zip").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert run("state", "restore", "state.zip").exit_code == 0


def test_a_missing_part_is_named(run: Run, state: Path, tmp_path: Path) -> None:
    (state / "signups.sqlite3").unlink()
    made = run("state", "backup", str(tmp_path / "state.zip"))
    assert made.exit_code == 0
    assert "signups.sqlite3: not in the state folder, so not in the backup." in made.output
    done = run("state", "restore", str(tmp_path / "state.zip"))
    assert done.exit_code == 0 and "signups.sqlite3: not in the backup" in done.output


def test_restore_is_refused_during_a_send(run: Run, state: Path, tmp_path: Path) -> None:
    archive = tmp_path / "state.zip"
    assert run("state", "backup", str(archive)).exit_code == 0
    with locks.hold(state / "locks", "2023-06-guidance-year"):
        refused = run("state", "restore", str(archive))
    assert refused.exit_code == ExitCode.ERROR
    assert f"cannot restore {archive} while a send runs" in refused.output
    assert "2023-06-guidance-year is being sent by pid" in refused.output


def test_a_tampered_archive_is_refused(run: Run, state: Path, tmp_path: Path) -> None:
    archive = tmp_path / "state.zip"
    assert run("state", "backup", str(archive)).exit_code == 0
    with zipfile.ZipFile(archive, "a") as opened:
        opened.writestr("../../.bashrc", "echo hi")
    before = contents(state)
    refused = run("state", "restore", str(archive))
    assert refused.exit_code == ExitCode.ERROR
    assert f"{archive}: refusing member '../../.bashrc'" in refused.output
    assert contents(state) == before
