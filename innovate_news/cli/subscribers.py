"""The `serve` command and the list's `subscribers` subcommands: parse, call the library, print."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from innovate_news.audience import imports, lifecycle, privacy, roster
from innovate_news.audience.listfile import ListFile
from innovate_news.audience.signups import Signups
from innovate_news.audience.subscribers import check_address, normalise
from innovate_news.cli.state import State
from innovate_news.errors import ExitCode
from innovate_news.output import write_text
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger

list_option = click.option(
    "--subscribers",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Subscriber CSV (default: [email] subscribers).",
)


@contextlib.contextmanager
def _stores(settings: Settings, csv_path: Path | None) -> Iterator[privacy.Stores]:
    path = csv_path or settings.root / settings.email["subscribers"]
    keys = lifecycle.keyring(settings)
    if keys.notice:
        click.echo(keys.notice, err=True)
    with Ledger.open(settings) as ledger, Signups.open(settings) as signups:
        listfile = ListFile(path, settings.folder("state") / "locks")
        yield privacy.Stores(settings, keys, listfile, ledger, signups)


def _address(value: str) -> str:
    if why := check_address(value):
        raise click.BadParameter(f"{value!r}: {why}", param_hint="EMAIL")
    return normalise(value)


@click.command()
@click.option("--host", help="Address to listen on (default: [serve] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [serve] port).")
@click.pass_obj
def serve(state: State, host: str | None, port: int | None) -> None:
    """Run the list service: one-click unsubscribe, preferences, sign-up, bounce webhooks."""
    from innovate_news.delivery import providers
    from innovate_news.web import app as webapp
    from innovate_news.web import server

    settings = state.settings
    table = settings["serve"]
    service = lifecycle.ListService.open(settings, providers.mailer(settings))
    if service.keyring.notice:
        click.echo(service.keyring.notice, err=True)
    try:
        server.serve(
            webapp.create_app(settings, service),
            host or table["host"],
            table["port"] if port is None else port,
            table["threads"],
            table["trusted_proxy"],
            ready=lambda url: click.echo(f"Serving the list service on {url} (Ctrl-C to stop)."),
        )
    finally:
        service.close()


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@list_option
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows of a file with bad ones.")
@click.pass_obj
def import_(
    state: State, files: tuple[Path, ...], csv_path: Path | None, dry_run: bool, skip_invalid: bool
) -> None:
    """Merge Mailchimp audience exports or plain CSVs into the list.

    Nobody suppressed, erased, unsubscribed or bounced is resubscribed; unsubscribed and
    cleaned people in a Mailchimp export become suppressions.
    """
    with _stores(state.settings, csv_path) as stores:
        for path in files:
            _, problems = imports.read_source(path)
            for problem in problems:
                click.echo(str(problem), err=True)
            if problems and not skip_invalid:
                click.echo(
                    f"{len(problems)} invalid row(s) in {path}: fix them, or pass --skip-invalid "
                    "to import the others.",
                    err=True,
                )
                raise click.exceptions.Exit(ExitCode.ERROR)
        report = imports.import_files(
            stores.listfile, stores.ledger, stores.keyring, files, dry_run
        )
    click.echo(("Dry run: would have " if dry_run else "Imported: ") + report.line())


@click.command()
@list_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--subscribed-only", is_flag=True, help="Leave out everyone not subscribed.")
@click.pass_obj
def export(state: State, csv_path: Path | None, out: Path | None, subscribed_only: bool) -> None:
    """Write the list for a spreadsheet: RFC 4180, formulas neutralised, suppressions applied."""
    with _stores(state.settings, csv_path) as stores:
        buffer = io.StringIO(newline="")
        count = roster.export(
            stores.listfile, stores.ledger, stores.keyring, buffer, subscribed_only
        )
    if out is None:
        click.echo(buffer.getvalue().encode("utf-8"), nl=False)  # bytes: CRLF kept as is
        return
    write_text(out, buffer.getvalue(), durable=True, private=True)
    click.echo(f"Wrote {count} row(s) to {out}.", err=True)


@click.command()
@click.argument("email")
@click.pass_obj
def unsubscribe(state: State, email: str) -> None:
    """Unsubscribe EMAIL at once (a suppression in the ledger, which wins over the CSV)."""
    address = _address(email)
    with Ledger.open(state.settings) as ledger:
        added = ledger.suppress(address, "unsubscribed", "command line")
    if not added:
        click.echo(f"{address} was already suppressed.")
        return
    click.echo(
        f"{address} is unsubscribed. `innovate-news subscribers sync` writes it into the CSV."
    )


@click.command()
@click.argument("email")
@list_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def erase(state: State, email: str, csv_path: Path | None, yes: bool) -> None:
    """Erase EMAIL: from the list, sign-ups and outbox; a keyed hash replaces it in the ledger."""
    address = _address(email)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not asking on a non-interactive input; add --yes to erase")
        if not click.confirm(f"Erase everything held about {address}? This cannot be undone"):
            raise click.exceptions.Exit(ExitCode.ERROR)
    with _stores(state.settings, csv_path) as stores:
        done = privacy.erase(stores, address)
    click.echo(
        f"Erased {address}: {done.list_rows} list row(s), {done.signups} sign-up(s), "
        f"{done.ledger_rows} ledger row(s) pseudonymised, {done.outbox_files} outbox file(s). "
        "A keyed-hash suppression stops any import from bringing the address back."
    )


@click.command()
@click.argument("email")
@list_option
@click.pass_obj
def show(state: State, email: str, csv_path: Path | None) -> None:
    """Print everything held about EMAIL as JSON (the answer to a subject access request)."""
    address = _address(email)
    with _stores(state.settings, csv_path) as stores:
        report = privacy.subject_access(stores, address, dt.datetime.now(dt.UTC))
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


@click.command()
@list_option
@click.pass_obj
def sync(state: State, csv_path: Path | None) -> None:
    """Rewrite the CSV's status column from the ledger's suppressions, atomically."""
    with _stores(state.settings, csv_path) as stores:
        changed = roster.sync(stores.listfile, stores.ledger, stores.keyring)
        path = stores.listfile.path
    click.echo(f"{path}: {changed} row(s) updated from the suppressions.")


SUBSCRIBER_COMMANDS = (import_, export, unsubscribe, erase, show, sync)
