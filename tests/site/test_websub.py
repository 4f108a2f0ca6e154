"""`api.ping` against a WebSub hub on loopback: which feeds are pinged, retries, the record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from innovate_news import api
from innovate_news.api.websub import split_url
from innovate_news.errors import InnovateNewsError, SendError, SettingsError, TransientError
from innovate_news.settings import Settings
from innovate_news.site import websub
from tests.support.servers import free_port
from tests.support.websub import Hub, hub_server

BASE = "https://example.org/innovate/"
FEEDS = ("feed.xml", "blog/feed.json", "events/atom.xml")


def configure(project: Path, hub: str, attempts: int = 3) -> Settings:
    path = project / "innovate-news.toml"
    extra = f'websub_hub = "{hub}"\nwebsub_attempts = {attempts}\nwebsub_backoff = 0.01\n'
    text = path.read_text(encoding="utf-8").replace(
        "feed_items = 50\n", "feed_items = 50\n" + extra
    )
    path.write_text(text, encoding="utf-8")
    return api.load_settings(path)


def write_feeds(project: Path, version: str = "1") -> None:
    """Stand-ins for built feeds: a ping only reads their bytes (the hub fetches no topic
    that nobody subscribed to)."""
    for name in FEEDS:
        path = project / "site" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<feed>{name} {version}</feed>", encoding="utf-8")


@pytest.fixture
def hub() -> Iterator[Hub]:
    with hub_server() as running:
        yield running


def record(project: Path) -> dict[str, str]:
    data = json.loads((project / ".innovate-news" / "websub.json").read_text(encoding="utf-8"))
    return dict(data["topics"])


def test_each_changed_feed_is_pinged_once_and_recorded(project: Path, hub: Hub) -> None:
    settings = configure(project, hub.url)
    write_feeds(project)
    report = api.ping(settings)
    topics = [BASE + name for name in FEEDS]  # the site's own feeds first
    assert report.pinged == topics == hub.publishes and not report.failed
    assert sorted(record(project)) == sorted(topics)

    assert api.ping(settings).pinged == [] and len(hub.publishes) == 3
    (project / "site" / "blog" / "feed.json").write_text("{}", encoding="utf-8")
    again = api.ping(settings)
    assert again.pinged == [BASE + "blog/feed.json"] and again.unchanged == 2


def test_a_busy_hub_is_asked_again_until_it_takes_the_ping(project: Path, hub: Hub) -> None:
    settings = configure(project, hub.url)
    write_feeds(project)
    hub.script = [500, 500]  # then 202
    report = api.ping(settings)
    first = BASE + FEEDS[0]
    assert hub.publishes[:3] == [first] * 3 and len(hub.publishes) == 5
    assert len(report.pinged) == 3 and not report.failed
    assert first in record(project)


def test_a_refused_ping_is_not_retried_and_stays_for_the_next_run(project: Path, hub: Hub) -> None:
    settings = configure(project, hub.url)
    write_feeds(project)
    hub.script = [400]
    report = api.ping(settings)
    first = BASE + FEEDS[0]
    assert "HTTP 400" in report.failed[first] and "hub trouble" in report.failed[first]
    assert hub.publishes.count(first) == 1 and len(report.pinged) == 2
    assert first not in record(project)
    assert api.ping(settings).pinged == [first]


def test_an_unreachable_hub_is_reported_not_raised(project: Path) -> None:
    settings = configure(project, f"http://127.0.0.1:{free_port()}/hub", attempts=2)
    write_feeds(project)
    report = api.ping(settings)
    assert (
        list(report.failed) == [BASE + FEEDS[0]]
        and "tried 2 times" in report.failed[BASE + FEEDS[0]]
    )
    assert report.skipped == [BASE + name for name in FEEDS[1:]] and report.pinged == []
    assert not (project / ".innovate-news" / "websub.json").exists()


def test_another_hub_or_a_cleared_cache_and_what_is_pinged(project: Path, hub: Hub) -> None:
    settings = configure(project, hub.url)
    write_feeds(project)
    api.ping(settings)
    api.clear_cache(settings)  # the record is durable state, not cache
    assert api.ping(settings).pinged == []
    other = settings.path.read_text(encoding="utf-8").replace(hub.url, hub.url + "?v=2")
    settings.path.write_text(other, encoding="utf-8")
    assert len(api.ping(api.load_settings(settings.path)).pinged) == 3  # new hub: all of them


def test_dry_run_and_no_hub_send_nothing(project: Path, hub: Hub, settings: Settings) -> None:
    write_feeds(project)
    assert api.ping(settings).hub is None  # the example project has no websub_hub
    configured = configure(project, hub.url)
    dry = api.ping(configured, dry_run=True)
    assert dry.changed == [BASE + name for name in FEEDS] and dry.pinged == []
    assert hub.publishes == [] and not (project / ".innovate-news" / "websub.json").exists()


def test_without_a_build_there_is_nothing_to_ping(project: Path, hub: Hub) -> None:
    settings = configure(project, hub.url)
    with pytest.raises(InnovateNewsError, match="run `innovate-news build` before `ping`"):
        api.ping(settings)


def test_retry_after_is_honoured_up_to_a_limit(project: Path) -> None:
    settings = configure(project, "https://hub.example.net/")
    write_feeds(project)
    waits: list[float] = []
    answers = iter([TransientError("busy", retry_after=3600), TransientError("busy", 2.0)])

    def publish(topic: str) -> None:
        if (answer := next(answers, None)) is not None:
            raise answer

    report = websub.ping(settings, publish, sleep=waits.append)
    assert waits == [websub.MAX_RETRY_AFTER, 2.0] and len(report.pinged) == 3


def test_a_refusal_that_is_not_transient_is_not_retried(project: Path) -> None:
    settings = configure(project, "https://hub.example.net/")
    write_feeds(project)
    calls: list[str] = []

    def publish(topic: str) -> None:
        calls.append(topic)
        raise SendError("the WebSub hub answered HTTP 404")

    report = websub.ping(settings, publish, sleep=lambda _: None)
    assert calls == [BASE + name for name in FEEDS] and len(report.failed) == 3


@pytest.mark.parametrize(
    "url",
    ["https://hub.example.net", "https://hub.example.net/", "https://example.net/a/hub",
     "https://example.net/a/hub/", "https://example.net/hub?site=innovate"],
)  # fmt: skip
def test_the_hub_url_is_posted_to_as_written(url: str) -> None:
    base, path = split_url(url)
    joined = f"{base.rstrip('/')}/{path.lstrip('/')}"  # as providers.http.Client joins them
    assert joined == (url if url != "https://hub.example.net" else url + "/")


def test_the_retry_settings_are_checked(project: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[site\] websub_attempts must be between 1 and 10"):
        configure(project, "https://hub.example.net/", attempts=0)
