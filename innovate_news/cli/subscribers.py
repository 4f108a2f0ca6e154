"""The `serve` command and the list's `subscribers` subcommands: parse, call the library, print."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click

from innovate_news import api
from innovate_news.cli.state import State
from innovate_news.errors import ExitCode
from innovate_news.output import write_text

list_option = click.option(
    "--subscribers",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Subscriber CSV (default: [email] subscribers).",
)

email_argument = click.argument(
    "address", metavar="EMAIL", callback=lambda _ctx, _param, value: _address(value)
)


@click.command()
@click.option("--host", help="Address to listen on (default: [serve] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [serve] port).")
@click.pass_obj
def serve(state: State, host: str | None, port: int | None) -> None:
    """Run the list service: one-click unsubscribe, preferences, sign-up, bounce webhooks."""
    api.serve(
        state.settings,
        host=host,
        port=port,
        ready=lambda url: click.echo(f"Serving the list service on {url} (Ctrl-C to stop)."),
        notify=_warn,
    )


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
    report = api.import_subscribers(
        state.settings,
        files,
        subscribers=csv_path,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        notify=_warn,
    )
    click.echo(("Dry run: would have " if dry_run else "Imported: ") + report.line())


@click.command()
@list_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--subscribed-only", is_flag=True, help="Leave out everyone not subscribed.")
@click.pass_obj
def export(state: State, csv_path: Path | None, out: Path | None, subscribed_only: bool) -> None:
    """Write the list for a spreadsheet: RFC 4180, formulas neutralised, suppressions applied."""
    buffer = io.StringIO(newline="")
    count = api.export_subscribers(
        state.settings, buffer, subscribers=csv_path, subscribed_only=subscribed_only
    )
    if out is None:
        click.echo(buffer.getvalue().encode("utf-8"), nl=False)  # bytes: CRLF kept as is
        return
    write_text(out, buffer.getvalue(), durable=True, private=True)
    click.echo(f"Wrote {count} row(s) to {out}.", err=True)


@click.command()
@email_argument
@click.pass_obj
def unsubscribe(state: State, address: str) -> None:
    """Unsubscribe EMAIL at once (a suppression in the ledger, which wins over the CSV)."""
    if not api.unsubscribe(state.settings, address):
        click.echo(f"{address} was already suppressed.")
        return
    click.echo(
        f"{address} is unsubscribed. `innovate-news subscribers sync` writes it into the CSV."
    )


@click.command()
@email_argument
@list_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def erase(state: State, address: str, csv_path: Path | None, yes: bool) -> None:
    """Erase EMAIL: from the list, sign-ups and outbox; a keyed hash replaces it in the ledger."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not asking on a non-interactive input; add --yes to erase")
        if not click.confirm(f"Erase everything held about {address}? This cannot be undone"):
            raise click.exceptions.Exit(ExitCode.ERROR)
    done = api.erase(state.settings, address, subscribers=csv_path)
    click.echo(
        f"Erased {address}: {done.list_rows} list row(s), {done.signups} sign-up(s), "
        f"{done.ledger_rows} ledger row(s) pseudonymised, {done.outbox_files} outbox file(s). "
        "A keyed-hash suppression stops any import from bringing the address back."
    )


@click.command()
@email_argument
@list_option
@click.pass_obj
def show(state: State, address: str, csv_path: Path | None) -> None:
    """Print everything held about EMAIL as JSON (the answer to a subject access request)."""
    report = api.subject_access(state.settings, address, subscribers=csv_path)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


@click.command()
@list_option
@click.pass_obj
def sync(state: State, csv_path: Path | None) -> None:
    """Rewrite the CSV's status column from the ledger's suppressions, atomically."""
    path, changed = api.sync_list(state.settings, subscribers=csv_path)
    click.echo(f"{path}: {changed} row(s) updated from the suppressions.")


def _address(value: str) -> str:
    """EMAIL normalised; a malformed one is a usage error, like any bad argument."""
    from innovate_news.audience.subscribers import check_address, normalise

    if why := check_address(value):
        raise click.BadParameter(f"{value!r}: {why}", param_hint="EMAIL")
    return normalise(value)


def _warn(message: str) -> None:
    click.echo(message, err=True)


SUBSCRIBER_COMMANDS = (import_, export, unsubscribe, erase, show, sync)
