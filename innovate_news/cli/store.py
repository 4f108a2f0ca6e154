"""The `store` commands: the shared state's schema, its status, and moving one machine's state
into PostgreSQL. Parse, call the library, print; the database URL is never printed whole."""

from __future__ import annotations

import click

from innovate_news import api
from innovate_news.api.store import Migration
from innovate_news.cli.state import State, pass_state


@click.group("store")
def store() -> None:
    """Where the ledger, suppressions and sign-ups live: init, migrate, status, copy.

    [store] backend chooses SQLite files in the state folder (the default) or one PostgreSQL
    database a team shares, reached through INNOVATE_NEWS_DATABASE_URL.
    """


def _said(migration: Migration, verb: str) -> str:
    if migration.before == migration.after:
        return f"{migration.where} is at schema version {migration.after}: nothing to do."
    return (
        f"{verb} {migration.where} ({migration.backend}): schema version {migration.before} "
        f"to {migration.after}."
    )


@store.command()
@pass_state
def init(state: State) -> None:
    """Make the schema in an empty database (on SQLite, the state folder's files)."""
    click.echo(_said(api.init_store(state.settings), "Initialised"))


@store.command()
@pass_state
def migrate(state: State) -> None:
    """Bring the schema to this version; safe to run from two machines at once."""
    click.echo(_said(api.migrate_store(state.settings), "Migrated"))


@store.command()
@pass_state
def status(state: State) -> None:
    """Backend, schema version and rows per table."""
    found = api.store_status(state.settings)
    click.echo(f"Backend:         {found.backend} ({found.where})")
    if found.version == 0:
        version = "none yet (run `innovate-news store init`)"
    else:
        version = str(found.version)
    click.echo(f"Schema version:  {version} (this innovate-news: {found.known})")
    for table, count in found.counts.items():
        click.echo(f"  {table:<15}{count:>10,}")


@store.command()
@click.option(
    "--to",
    "target",
    type=click.Choice(["postgresql"]),
    required=True,
    help="The backend to copy into (its URL: INNOVATE_NEWS_DATABASE_URL).",
)
@pass_state
def copy(state: State, target: str) -> None:
    """Copy the state folder's ledger, suppressions and sign-ups into an empty database.

    One transaction: all of it or nothing. Stop sends and `serve` first; afterwards set
    [store] backend = "postgresql" on every machine.
    """
    copied = api.copy_store(state.settings, to=target)
    total = sum(copied.counts.values())
    parts = ", ".join(f"{n:,} {table}" for table, n in copied.counts.items() if n)
    click.echo(f"Copied {total:,} rows into {copied.where}: {parts or 'nothing to copy'}.")
    click.echo('Now set [store] backend = "postgresql" in innovate-news.toml on every machine.')
