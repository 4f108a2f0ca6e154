"""The command line: parse, call the library, print. Errors are turned into messages here only."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from innovate_news import __version__, api
from innovate_news.cli import problems as report
from innovate_news.cli.maintenance import cache, state_group
from innovate_news.cli.state import DateTimeParam, State, pass_state, resolve_now
from innovate_news.errors import ExitCode, InnovateNewsError, Problem, ProblemsError
from innovate_news.settings_schema import PROVIDERS

if TYPE_CHECKING:
    from innovate_news.settings import Settings


def _subscribers_group() -> click.Command:
    from innovate_news.cli.send import subscribers
    from innovate_news.cli.subscribers import SUBSCRIBER_COMMANDS

    for command in SUBSCRIBER_COMMANDS:
        subscribers.add_command(command)
    return subscribers


def _attribute(module: str, name: str) -> Callable[[], click.Command]:
    def load() -> click.Command:
        command: click.Command = getattr(importlib.import_module(module, __package__), name)
        return command

    return load


# Sending and the list service pull in SMTP, HTTP, SQLite, Flask and the email renderer; a
# build needs none of them, so those commands are imported only when they are run. Their one-line
# help is kept here too, so `--help` lists them without importing them (a test keeps it true).
LAZY_COMMANDS: dict[str, tuple[Callable[[], click.Command], str]] = {
    "send": (
        _attribute(".send", "send"),
        'Send ISSUE (a path, a slug or "latest") to the list, each subscriber exactly once.',
    ),
    "status": (
        _attribute(".send", "status"),
        "Who got ISSUE: counts per state, and who failed or is unknown, with the last error.",
    ),
    "subscribers": (_subscribers_group, "Work with the subscriber list."),
    "serve": (
        _attribute(".subscribers", "serve"),
        "Run the list service: one-click unsubscribe, preferences, sign-up, bounce webhooks.",
    ),
    "store": (
        _attribute(".store", "store"),
        "Where the ledger, suppressions and sign-ups live: init, migrate, status, copy.",
    ),
    "serve-site": (
        _attribute(".devsite", "serve_site"),
        "Preview the site on 127.0.0.1: build it, serve it, rebuild and reload on every change.",
    ),
    "ping": (
        _attribute(".websub", "ping"),
        "Tell the WebSub hub ([site] websub_hub) which feeds changed since the last ping.",
    ),
}


class Group(click.Group):
    """Turns the library's errors into click's, in one place; loads heavy commands lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            load, _ = LAZY_COMMANDS[name]
            self.add_command(load(), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with the lazy commands' help from LAZY_COMMANDS (not imported)."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                text = LAZY_COMMANDS[name][1]
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
            elif (command := self.commands.get(name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProblemsError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            raise click.exceptions.Exit(ExitCode.ERROR) from exc
        except InnovateNewsError as exc:
            # The message says what went wrong; a Python class name would tell a user nothing.
            raise click.ClickException(str(exc)) from exc


@click.group(cls=Group)
@click.version_option(__version__, prog_name="innovate-news")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: innovate-news.toml here or in a parent folder).",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Markdown posts to feeds, a web archive and newsletter emails for the Innovate Project."""
    ctx.obj = State(config)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--now", type=DateTimeParam(), help="Build as if it were this time (reproducible).")
@click.option("--jobs", type=click.IntRange(1, 64), help="Worker processes (default: all cores).")
@pass_state
def build(state: State, out: Path | None, now: dt.datetime | None, jobs: int | None) -> None:
    """Build feeds, archive pages and calendars from the posts."""
    settings = state.settings
    report = api.build(settings, out=out, now=resolve_now(settings, now), jobs=jobs)
    click.echo(
        f"Built {report.out}: {report.published} of {report.posts} posts published, "
        f"{report.rendered} rendered, {report.files_written} files written, "
        f"{report.removed} removed ({report.seconds:.2f} s)."
    )


@cli.command()
@click.option("--now", type=DateTimeParam(), help="Check as if it were this time.")
@click.option(
    "--subscribers",
    "subscribers_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check this subscriber list (default: [email] subscribers, if it exists).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(report.FORMATS),
    default="text",
    show_default=True,
    help="github: print GitHub Actions commands, shown as annotations on the lines.",
)
@click.option(
    "--deliverability",
    is_flag=True,
    help="Instead: ask DNS what mailbox providers will make of the From domain "
    "(SPF, DKIM, DMARC, unsubscribe host, Gmail and Yahoo rules).",
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    help="With --deliverability: check for this provider (default: [email] provider).",
)
@pass_state
def check(
    state: State,
    now: dt.datetime | None,
    subscribers_csv: Path | None,
    output_format: str,
    deliverability: bool,
    provider: str | None,
) -> None:
    """Check settings, templates, posts, unsent issues and the list; print path:line problems."""
    if provider is not None and not deliverability:
        raise click.UsageError("--provider goes with --deliverability")
    try:
        settings = state.settings
    except ProblemsError as exc:
        root = (state.config.parent if state.config else Path.cwd()).resolve()
        _print_checked(exc.problems, root, output_format)
        raise click.exceptions.Exit(ExitCode.ERROR) from exc
    if deliverability:
        _check_deliverability(settings, provider, subscribers_csv)
        return
    problems = api.check(settings, now=resolve_now(settings, now), subscribers=subscribers_csv)
    _print_checked(problems, settings.root, output_format)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        click.echo(f"{len(errors)} problem(s) found.", err=True)
        raise click.exceptions.Exit(ExitCode.ERROR)
    click.echo("All good: settings, templates, posts, unsent issues and the list check out.")


def _check_deliverability(settings: Settings, provider: str | None, csv: Path | None) -> None:
    """One line per finding; an error-level one makes the exit code ERROR."""
    findings = api.check_deliverability(settings, provider=provider, subscribers=csv)
    for finding in findings:
        click.echo(str(finding))
    errors = [f for f in findings if f.level == "error"]
    if errors:
        click.echo(f"{len(errors)} deliverability error(s) found.", err=True)
        raise click.exceptions.Exit(ExitCode.ERROR)
    click.echo("No deliverability errors: see the warnings and notes above, if any.")


def _topics(ctx: click.Context, param: click.Parameter, value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    from innovate_news.content.posts import KINDS

    topics = frozenset(t.strip() for t in value.split(",") if t.strip())
    if not topics or not topics <= set(KINDS):
        raise click.BadParameter(f"{value!r}: use a comma-separated list of {', '.join(KINDS)}")
    return topics


@cli.command()
@click.argument("issue")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--as", "as_email", metavar="EMAIL", help="Preview this subscriber's copy.")
@click.option("--topics", callback=_topics, help="Topics to preview, e.g. finding,blog.")
@click.option("--open", "open_browser", is_flag=True, help="Open the HTML in a browser.")
@click.option("--now", type=DateTimeParam(), help="Render as if it were this time.")
@pass_state
def preview(
    state: State,
    issue: str,
    out: Path | None,
    as_email: str | None,
    topics: frozenset[str] | None,
    open_browser: bool,
    now: dt.datetime | None,
) -> None:
    """Write one recipient's copy of ISSUE (a path, a slug or "latest") as .html, .txt, .eml."""
    settings = state.settings
    result = api.preview(
        settings, issue, out=out, as_email=as_email, topics=topics, now=resolve_now(settings, now)
    )
    if result.notice:
        click.echo(result.notice, err=True)
    click.echo(
        f"Wrote {result.html}, {result.text.name} and {result.eml.name}: the "
        f"{result.variant} copy for {result.recipient.address}."
    )
    if open_browser and not api.open_preview(result):
        click.echo(f"No web browser found on this machine: open {result.html} in one.")


# Light enough to import with the group (api imports their libraries only when they run).
cli.add_command(cache)
cli.add_command(state_group)


def _print_checked(problems: list[Problem], root: Path, output_format: str) -> None:
    """`check`'s problems, paths relative to the project; workflow commands go to stdout."""
    for problem in problems:
        if output_format == "github":
            click.echo(report.github(problem, root))
        else:
            click.echo(report.text(problem, root), err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="innovate-news")


if __name__ == "__main__":  # pragma: no cover
    main()
