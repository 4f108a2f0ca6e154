"""The `serve-site` command: parse, call the library, print."""

from __future__ import annotations

import datetime as dt

import click

from innovate_news import api
from innovate_news.cli.state import State, pass_state


@click.command("serve-site")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (default: 8000; 0 picks a free one).",
)
@pass_state
def serve_site(state: State, port: int | None) -> None:
    """Preview the site on 127.0.0.1: build it, serve it, rebuild and reload on every change.

    The site is built with its links pointing at the local server, into a folder of its own
    in the build cache (.innovate-news/cache/serve-site/site/), so the real output folder and
    its public links are untouched. Every change to the posts, issues, templates, static files
    or settings builds it again and reloads the open pages; a failed build is shown in the
    terminal and on the page, and the last good site stays up. /_preview/ shows the latest
    issue's email.
    """

    def ready(url: str) -> None:
        click.echo(f"Serving the site on {url} (the latest issue's email: {url}_preview/).")
        click.echo("Watching for changes; Ctrl-C to stop.")

    def notify(text: str) -> None:
        click.echo(f"{dt.datetime.now():%H:%M:%S} {text}")

    api.serve_site(state.settings, port=port, ready=ready, notify=notify)
