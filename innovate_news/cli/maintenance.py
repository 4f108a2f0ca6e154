"""The `cache` and `state` commands: clear the disposable build cache; back up and restore the
durable state. Parse, call the library, print."""

from __future__ import annotations

from pathlib import Path

import click

from innovate_news import api
from innovate_news.cli.state import State, pass_state

_KEPT = "kept the ledger, suppressions, sign-ups and secret"


@click.group()
def cache() -> None:
    """Clear the build cache, which the next build makes again."""


@cache.command("clear")
@pass_state
def cache_clear(state: State) -> None:
    """Remove the build cache, and nothing else in the state folder."""
    removed = api.clear_cache(state.settings)
    click.echo(f"Removed the build cache {removed}; {_KEPT}.")


@click.group("state")
def state_group() -> None:
    """Back up or restore the ledger, sign-ups and secret.

    The ledger holds the deliveries and the suppressions; sign-ups hold the consent evidence;
    the secret signs links when INNOVATE_NEWS_SECRET is unset.
    """


archive_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@state_group.command()
@archive_argument
@pass_state
def backup(state: State, file: Path) -> None:
    """Write the durable state to FILE, an archive only you can read.

    Safe while a send or `serve` is running. FILE holds personal data: keep copies off this
    machine, somewhere only the list's keepers can read.
    """
    report = api.backup_state(state.settings, file)
    for name in report.missing:
        click.echo(f"{name}: not in the state folder, so not in the backup.", err=True)
    click.echo(f"Backed up {', '.join(report.saved)} to {report.path} (mode 0600).")


@state_group.command()
@archive_argument
@pass_state
def restore(state: State, file: Path) -> None:
    """Put the state in the backup FILE back; refused during a send.

    The whole archive is checked before anything is written. The subscriber CSV is not part of
    a backup: keep it with your other copies.
    """
    report = api.restore_state(state.settings, file)
    for name in report.absent:
        click.echo(f"{name}: not in the backup, so not restored.", err=True)
    made = f" (taken {report.created} by innovate-news {report.version})" if report.created else ""
    click.echo(f"Restored {', '.join(report.restored)} from {report.path}{made}.")
    if report.changed:
        click.echo(
            "The link-signing secret changed: restart `innovate-news serve` if it is running.",
            err=True,
        )
