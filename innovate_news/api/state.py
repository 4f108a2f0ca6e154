"""The durable state folder and the disposable cache: clearing, backing up, restoring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from innovate_news.settings import Settings
    from innovate_news.store.backup import BackupReport, Parts, RestoreReport


def clear_cache(settings: Settings) -> Path:
    """Remove the build cache (disposable: the next build renders every post again) and
    nothing else; returns the folder removed."""
    from innovate_news.site import cache

    return cache.clear(settings)


def backup_state(settings: Settings, path: Path) -> BackupReport:
    """Write the durable state (ledger, sign-ups, generated secret) to one owner-only archive.

    Safe while a send or the list service is writing: each database is copied at its last
    committed state. A part the state folder lacks is left out (the report names it).
    """
    from innovate_news.store import backup

    _files_hold_the_state(settings, "backup")
    return backup.backup(settings.folder("state"), _state_parts(), path)


def restore_state(settings: Settings, path: Path) -> RestoreReport:
    """Put the durable state in a backup archive back; refused while any send holds its lock.

    The archive is checked whole before anything is written; each database is written into the
    live file in one step, so a running list service sees the restored state at once.
    """
    from innovate_news.store import backup

    _files_hold_the_state(settings, "restore")
    return backup.restore(settings.folder("state"), _state_parts(), path)


def _files_hold_the_state(settings: Settings, command: str) -> None:
    """On the shared database the state folder's files are not the state: say what to use."""
    from innovate_news.errors import BackupError

    if settings["store"]["backend"] != "sqlite":
        tool = "pg_dump" if command == "backup" else "pg_restore"
        raise BackupError(
            f'[store] backend is "postgresql": the ledger and sign-ups are in the shared '
            f"database, which `state {command}` does not cover; use {tool} (see the README's "
            '"Running it for a team")'
        )


def _state_parts() -> Parts:
    from innovate_news.audience import signups, tokens
    from innovate_news.store import backup, ledger

    return backup.Parts(
        databases=(ledger.FILE_NAME, signups.FILE_NAME), files=(tokens.GENERATED_FILE,)
    )
