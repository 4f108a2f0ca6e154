"""`innovate-news ping` end to end: the example site served on loopback, a WebSub hub that
validates and verifies subscriptions, and a subscriber that gets each new entry from the hub."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
from click.testing import Result

from innovate_news import layout
from innovate_news import settings as settings_module
from tests.e2e.test_workflows import SITE, load, runs, uses
from tests.support import REPO
from tests.support.websub import Hub, Subscriber, hub_server, static_site, subscriber_server

NOW = "2026-11-25T12:00"
NEW_POST = """---
title: "A new note on the networks"
date: 2026-11-24
kind: blog
summary: "The newest post: the hub must bring it to the subscriber."
---

What the networks did this autumn.
"""


def feeds(site: Path, base: str) -> set[str]:
    """The public URL of every feed the build wrote: site-wide, per kind and any others."""
    names = set(layout.FEED_FILES.values())
    return {base + p.relative_to(site).as_posix() for p in site.rglob("*") if p.name in names}


def configure(project: Path, base: str, hub: str) -> None:
    """The example project, published at `base` and announcing `hub`."""
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('base_url = "https://example.org/innovate/"', f'base_url = "{base}"')
    extra = f'websub_hub = "{hub}"\nwebsub_backoff = 0.01\n'
    path.write_text(
        text.replace("feed_items = 50\n", "feed_items = 50\n" + extra), encoding="utf-8"
    )


@pytest.fixture
def served(project: Path) -> Iterator[tuple[str, Hub, Subscriber]]:
    with static_site(project / "site") as base, hub_server() as hub, subscriber_server() as sub:
        configure(project, base, hub.url)
        yield base, hub, sub


def pinged(result: Result) -> set[str]:
    return {
        line.split(" ", 1)[1] for line in result.output.splitlines() if line.startswith("pinged ")
    }


def newest_title(sub: Subscriber, topic: str, count: int) -> str:
    """The first entry's title in the `count`th copy of `topic` the hub delivered."""
    sub.wait(lambda: len(sub.received(topic)) >= count)
    delivery = sub.received(topic)[count - 1]
    assert f'<{topic}>; rel="self"' in delivery.link
    feed = feedparser.parse(delivery.body)
    assert not feed.bozo, feed.get("bozo_exception")
    return str(feed.entries[0].title)


def test_a_subscriber_gets_new_entries_through_the_hub_after_ping(
    project: Path, run: Callable[..., Result], served: tuple[str, Hub, Subscriber]
) -> None:
    base, hub, sub = served
    assert run("build", "--now", NOW).exit_code == 0
    rss, blog_atom = base + "feed.xml", base + "blog/atom.xml"
    sub.subscribe(hub.url, rss)
    sub.subscribe(hub.url, blog_atom, secret="s3cret-websub")
    assert sub.verified == [rss, blog_atom] and not hub.denied

    every = feeds(project / "site", base)
    assert {rss, blog_atom, base + "findings/feed.json", base + "events/atom.xml"} <= every
    first = run("ping")
    assert first.exit_code == 0, first.output
    assert pinged(first) == every and sorted(hub.publishes) == sorted(every)
    assert f"{len(every)} changed feed(s), 0 unchanged." in first.output
    built = feedparser.parse((project / "site" / "feed.xml").read_bytes())
    assert newest_title(sub, rss, 1) == built.entries[0].title

    again = run("ping")
    assert again.exit_code == 0 and pinged(again) == set()
    assert f"0 changed feed(s), {len(every)} unchanged." in again.output
    assert len(hub.publishes) == len(every)

    (project / "posts" / "2026-11-24-a-new-note.md").write_text(NEW_POST, encoding="utf-8")
    assert run("build", "--now", NOW).exit_code == 0
    third = run("ping")
    assert third.exit_code == 0, third.output
    changed = {
        base + layout.feed(kind, fmt) for kind in (None, "blog") for fmt in layout.FEED_FILES
    }
    assert pinged(third) == changed and set(hub.publishes[len(every) :]) == changed
    assert (
        newest_title(sub, rss, 2) == newest_title(sub, blog_atom, 2) == "A new note on the networks"
    )
    signed = sub.received(blog_atom)[-1]
    digest = hmac.new(b"s3cret-websub", signed.body, hashlib.sha256).hexdigest()
    assert signed.signature == f"sha256={digest}" and sub.received(rss)[-1].signature is None
    assert hub.errors == []


def test_a_hub_that_does_not_take_the_ping_never_fails_the_deploy(
    project: Path, run: Callable[..., Result], served: tuple[str, Hub, Subscriber]
) -> None:
    base, hub, _ = served
    assert run("build", "--now", NOW).exit_code == 0
    hub.script = [503] * 100
    result = run("ping")
    assert result.exit_code == 0
    # websub_attempts (4) tries of the first feed; the others wait for the next ping.
    assert len(hub.publishes) == 4 and pinged(result) == set()
    assert "warning: " in result.stderr and "HTTP 503" in result.stderr
    every = feeds(project / "site", base)
    assert f"{len(every) - 1} more feed(s) not tried" in result.stderr
    assert not (project / ".innovate-news" / "websub.json").exists()

    hub.script = []
    later = run("ping")
    assert later.exit_code == 0 and pinged(later) == every


def test_without_a_hub_ping_says_there_is_nothing_to_do(
    project: Path, run: Callable[..., Result]
) -> None:
    result = run("ping")
    assert result.exit_code == 0
    assert "Nothing to ping: set [site] websub_hub" in result.output


def test_dry_run_lists_the_changed_feeds_and_sends_nothing(
    project: Path, run: Callable[..., Result], served: tuple[str, Hub, Subscriber]
) -> None:
    base, hub, _ = served
    assert run("build", "--now", NOW).exit_code == 0
    result = run("ping", "--dry-run")
    assert result.exit_code == 0
    listed = {line.removeprefix("would ping ") for line in result.output.splitlines()[:-1]}
    assert listed == feeds(project / "site", base)
    assert hub.publishes == [] and not (project / ".innovate-news" / "websub.json").exists()


def test_the_site_workflow_pings_the_hub_after_deploying() -> None:
    ping = load(SITE)["jobs"]["ping"]
    assert ping["needs"] == "deploy" and runs(ping)[-1] == "innovate-news ping"
    steps = uses(ping)
    assert steps["actions/download-artifact"]["name"] == "github-pages"  # the site as deployed
    settings = settings_module.load(REPO / "innovate-news.toml")
    record = settings.folder("state").relative_to(settings.root) / "websub.json"
    assert steps["actions/cache"]["path"] == record.as_posix()  # kept from run to run
