"""Archive pages read back by an HTML parser; calendars read back by icalendar."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from click.testing import Result
from lxml import html as lxml_html  # type: ignore[import-untyped]

BASE = "https://example.org/innovate/"
NOW_ARG = ("--now", "2026-11-25T12:00")
FEED_TYPES = ["application/rss+xml", "application/atom+xml", "application/feed+json"]
EVENTS = (
    "advisory-forum-first-meeting",
    "webinar-three-approaches",
    "network-meeting-spring-2022",
    "guidance-launch-workshop",
    "network-reunion-2027",
)


@pytest.fixture
def site(project: Path, run: Callable[..., Result]) -> Path:
    result = run("build", *NOW_ARG)
    assert result.exit_code == 0, result.output
    return project / "site"


def page(path: Path) -> Any:
    return lxml_html.fromstring(path.read_bytes())


def meta(tree: Any, prop: str) -> str | None:
    found = tree.xpath(f'//meta[@property="{prop}"]/@content')
    return found[0] if found else None


def alternates(tree: Any) -> list[tuple[str, str]]:
    return [(link.get("type"), link.get("href")) for link in tree.xpath('//link[@rel="alternate"]')]


def json_ld(tree: Any) -> Any:
    [script] = tree.xpath('//script[@type="application/ld+json"]')
    return json.loads(script.text)


def calendar(path: Path) -> Any:
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b""), "RFC 5545 lines end in CRLF"
    return icalendar.Calendar.from_ical(data)


def pages(site: Path) -> list[Path]:
    """The archive's pages (newsletter issues' web versions have their own tests)."""
    return sorted(p for p in site.rglob("*.html") if "issues" not in p.relative_to(site).parts)


def test_every_page_has_lang_feeds_og_and_alt_text(site: Path) -> None:
    # posts, the home page, the archive, three sections, privacy, follow and 404, outputs
    # and the tag index with the examples' 27 tags
    assert len(pages(site)) == 12 + 5 + 3 + 1 + 1 + 27
    for path in pages(site):
        tree = page(path)
        assert tree.get("lang") == "en-GB", path
        links = alternates(tree)
        assert links[:3] == [
            (kind, f"{BASE}{name}")
            for kind, name in zip(FEED_TYPES, ("feed.xml", "atom.xml", "feed.json"), strict=True)
        ], path
        assert meta(tree, "og:site_name") == "The Innovate Project"
        assert meta(tree, "og:locale") == "en_GB"
        assert meta(tree, "og:title")
        assert meta(tree, "og:url") == tree.xpath('//link[@rel="canonical"]/@href')[0]
        for img in tree.iter("img"):
            assert (img.get("alt") or "").strip(), f"an image without alt text in {path}"
        assert tree.xpath('//meta[@name="viewport"]')
        assert len(tree.xpath("//h1")) == 1, path


def test_post_pages_link_their_kind_feeds(site: Path) -> None:
    tree = page(site / "posts" / "mapping-the-field-three-reviews" / "index.html")
    assert alternates(tree)[3:] == [
        (kind, f"{BASE}findings/{name}")
        for kind, name in zip(FEED_TYPES, ("feed.xml", "atom.xml", "feed.json"), strict=True)
    ]
    section = page(site / "events" / "index.html")
    assert (FEED_TYPES[0], f"{BASE}events/feed.xml") in alternates(section)


def test_article_pages_have_opengraph_and_json_ld(site: Path) -> None:
    tree = page(site / "posts" / "learning-and-development-networks" / "index.html")
    url = f"{BASE}posts/learning-and-development-networks/"
    assert meta(tree, "og:type") == "article"
    assert meta(tree, "og:url") == url
    assert meta(tree, "og:title") == "How the Learning & Development Networks work"
    assert meta(tree, "og:image") == f"{BASE}images/networks.svg"
    assert (meta(tree, "og:image:alt") or "").startswith("Diagram of the Learning")
    assert meta(tree, "article:published_time") == "2022-02-08T00:00:00+00:00"
    data = json_ld(tree)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Article"
    assert data["headline"] == meta(tree, "og:title")
    assert data["url"] == url
    assert data["datePublished"] == "2022-02-08T00:00:00+00:00"
    assert data["inLanguage"] == "en-GB"
    assert data["publisher"]["name"] == "The Innovate Project"
    [figure_img] = tree.xpath('//figure[@class="lead-image"]/img')
    assert figure_img.get("alt").startswith("Diagram of the Learning")


def test_findings_are_articles_too(site: Path) -> None:
    data = json_ld(page(site / "posts" / "mapping-the-field-three-reviews" / "index.html"))
    assert data["@type"] == "Report"  # schema.org's Report is a kind of Article


def test_event_pages_have_event_json_ld(site: Path) -> None:
    tree = page(site / "posts" / "network-reunion-2027" / "index.html")
    data = json_ld(tree)
    assert data["@type"] == "Event"
    assert data["name"] == "Learning & Development Network reunion, March 2027"
    assert data["startDate"] == "2027-03-10T10:00:00+00:00"
    assert data["endDate"] == "2027-03-10T15:00:00+00:00"
    assert data["eventAttendanceMode"] == "https://schema.org/MixedEventAttendanceMode"
    types = {location["@type"] for location in data["location"]}
    assert types == {"Place", "VirtualLocation"}
    assert data["offers"]["url"] == "https://example.org/innovate/events/reunion-2027-booking"
    assert tree.xpath(f'//a[@href="{BASE}events/network-reunion-2027.ics"]')


def test_index_and_archive_list_published_posts(site: Path) -> None:
    index = page(site / "index.html")
    upcoming = index.xpath('//section[@aria-labelledby="upcoming"]//h3/a/@href')
    assert upcoming == [f"{BASE}posts/network-reunion-2027/"]
    archive = page(site / "posts" / "index.html")
    listed = archive.xpath('//ul[@class="archive"]/li/a/@href')
    assert len(listed) == 12
    assert listed[0] == f"{BASE}posts/network-reunion-2027/"  # newest first
    assert listed[-1] == f"{BASE}posts/welcome-to-the-innovate-project/"
    blog = page(site / "blog" / "index.html")
    assert len(blog.xpath('//ul[@class="archive"]/li')) == 4


def test_a_title_cannot_break_out_of_the_json_ld(project: Path, run: Callable[..., Result]) -> None:
    title = "Hello </script><script>alert(1)</script> & <!-- friends"
    (project / "posts" / "2022-01-01-tricky.md").write_text(
        f"---\ntitle: {json.dumps(title)}\ndate: 2022-01-01\nkind: blog\n"
        f"summary: {json.dumps('A </script> summary')}\n---\nBody.\n",
        encoding="utf-8",
    )
    assert run("build", *NOW_ARG).exit_code == 0
    raw = (project / "site" / "posts" / "tricky" / "index.html").read_text(encoding="utf-8")
    assert raw.count("<script") == 1
    assert raw.lower().count("</script") == 1
    tree = lxml_html.fromstring(raw)
    data = json_ld(tree)
    assert data["headline"] == title
    assert data["description"] == "A </script> summary"
    assert tree.xpath("//h1")[0].text_content() == title
    assert meta(tree, "og:title") == title


def test_events_ics_holds_only_upcoming_events(site: Path) -> None:
    cal = calendar(site / "events.ics")
    assert cal["METHOD"] == "PUBLISH"
    assert cal["VERSION"] == "2.0"
    [timezone] = cal.walk("VTIMEZONE")
    assert timezone["TZID"] == "Europe/London"
    uids = [str(event["UID"]) for event in cal.walk("VEVENT")]
    assert uids == ["network-reunion-2027@example.org"]


def test_events_ics_follows_the_clock(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", "--now", "2022-04-10").exit_code == 0
    cal = calendar(project / "site" / "events.ics")
    # the spring 2022 meeting is announced and ahead; the earlier events are over and the
    # later ones are not announced yet
    uids = [str(event["UID"]) for event in cal.walk("VEVENT")]
    assert uids == ["network-meeting-spring-2022@example.org"]


def test_one_ics_per_event_with_its_own_timezone(site: Path) -> None:
    files = sorted(p.stem for p in (site / "events").glob("*.ics"))
    assert files == sorted(EVENTS)
    london = ZoneInfo("Europe/London")
    for slug in EVENTS:
        cal = calendar(site / "events" / f"{slug}.ics")
        assert cal["METHOD"] == "PUBLISH"
        assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
        [event] = cal.walk("VEVENT")
        assert event["UID"] == f"{slug}@example.org"
        assert event["URL"] == f"{BASE}posts/{slug}/"
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        start = event["DTSTART"].dt
        assert start.tzinfo is not None
        assert event["DTEND"].dt > start
        assert event["DTSTAMP"].dt.utcoffset() == dt.timedelta(0)
    summer = calendar(site / "events" / "guidance-launch-workshop.ics").walk("VEVENT")[0]
    assert summer["DTSTART"].dt == dt.datetime(2023, 7, 5, 10, 0, tzinfo=london)
    assert str(summer["LOCATION"]).startswith("Example venue")


def test_event_uids_are_stable_across_rebuilds_and_edits(
    project: Path, site: Path, run: Callable[..., Result]
) -> None:
    before = (site / "events" / "network-reunion-2027.ics").read_bytes()
    post = project / "posts" / "2023-11-20-network-reunion-2027.md"
    text = post.read_text(encoding="utf-8")
    post.write_text(text.replace('title: "', 'title: "Updated: ', 1), encoding="utf-8")
    assert run("build", *NOW_ARG).exit_code == 0
    after = (site / "events" / "network-reunion-2027.ics").read_bytes()
    assert after != before
    old_event = calendar_event(before)
    new_event = calendar_event(after)
    assert new_event["UID"] == old_event["UID"] == "network-reunion-2027@example.org"
    assert str(new_event["SUMMARY"]).startswith("Updated: ")


def calendar_event(data: bytes) -> Any:
    return icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
