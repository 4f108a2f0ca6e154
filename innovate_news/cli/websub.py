"""The `ping` command (WebSub): parse, call the library, print."""

from __future__ import annotations

import click

from innovate_news import api
from innovate_news.cli.state import State, pass_state


@click.command()
@click.option("--dry-run", is_flag=True, help="List the feeds that would be pinged; send nothing.")
@pass_state
def ping(state: State, dry_run: bool) -> None:
    """Tell the WebSub hub ([site] websub_hub) which feeds changed since the last ping.

    One publish request per changed feed of the built site, so the hub's subscribers get new
    posts at once. A hub that fails is tried again with backoff, then reported as a warning:
    the exit status is still 0, and the feeds it did not take are pinged on the next run.
    """
    report = api.ping(state.settings, dry_run=dry_run)
    if report.hub is None:
        click.echo("Nothing to ping: set [site] websub_hub to the hub that announces the feeds.")
        return
    if dry_run:
        for topic in report.changed:
            click.echo(f"would ping {topic}")
        click.echo(
            f"Dry run: {len(report.changed)} changed feed(s) to ping at {report.hub}, "
            f"{report.unchanged} unchanged; nothing sent."
        )
        return
    for topic in report.pinged:
        click.echo(f"pinged {topic}")
    for topic, error in report.failed.items():
        click.echo(f"warning: {topic} not pinged: {error}", err=True)
    if report.skipped:
        click.echo(
            f"warning: {len(report.skipped)} more feed(s) not tried while the hub is "
            "unreachable; the next ping sends them",
            err=True,
        )
    left = len(report.failed) + len(report.skipped)
    click.echo(
        f"Pinged {report.hub}: {len(report.pinged)} changed feed(s), "
        f"{report.unchanged} unchanged" + (f", {left} left for the next ping." if left else ".")
    )
