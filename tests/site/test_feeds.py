"""Every feed read back (feedparser for RSS and Atom, json for JSON Feed 1.1), site and per kind."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import Result
from lxml import etree  # type: ignore[import-untyped]
from lxml import html as lxml_html

BASE = "https://example.org/innovate/"
FOLDERS = {"": 12, "findings/": 3, "blog/": 4, "events/": 5}  # published posts in each feed
XML_FEEDS = ("feed.xml", "atom.xml")
KIND_OF = {"findings/": "finding", "blog/": "blog", "events/": "event"}


@pytest.fixture
def site(project: Path, run: Callable[..., Result]) -> Path:
    result = run("build", "--now", "2026-11-25T12:00")
    assert result.exit_code == 0, result.output
    return project / "site"


def parsed(path: Path) -> Any:
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, f"{path}: {feed.get('bozo_exception')}"
    return feed


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def absolute_urls(fragment: str) -> list[str]:
    """Every href and src in an HTML fragment."""
    tree = lxml_html.fragment_fromstring(fragment, create_parent="div")
    return [el.get(attr) for attr in ("href", "src") for el in tree.iter() if el.get(attr)]


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", XML_FEEDS)
def test_every_xml_feed_parses_with_the_right_entries(site: Path, folder: str, name: str) -> None:
    feed = parsed(site / folder / name)
    assert feed.version == ("rss20" if name == "feed.xml" else "atom10")
    assert len(feed.entries) == FOLDERS[folder]
    assert feed.feed.language == "en-GB"
    suffix = {"findings/": ": Findings", "blog/": ": Blog", "events/": ": Events"}.get(folder, "")
    assert feed.feed.title == f"The Innovate Project{suffix}"
    dates = [dt.datetime(*entry.published_parsed[:6]) for entry in feed.entries]
    assert dates == sorted(dates, reverse=True), "newest first"
    for entry in feed.entries:
        assert entry.link.startswith(f"{BASE}posts/")
        assert entry.id.startswith("tag:example.org,")
        assert entry.title
        assert entry.summary
        assert entry.content[0].value.strip(), "full content present"
        assert all(
            url.startswith(("https://", "mailto:")) for url in absolute_urls(entry.content[0].value)
        )


@pytest.mark.parametrize("folder", FOLDERS)
def test_feeds_of_one_folder_agree(site: Path, folder: str) -> None:
    rss = parsed(site / folder / "feed.xml")
    atom = parsed(site / folder / "atom.xml")
    data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
    ids = [entry.id for entry in rss.entries]
    assert ids == [entry.id for entry in atom.entries]
    assert ids == [item["id"] for item in data["items"]]
    assert len(set(ids)) == len(ids)
    if folder in KIND_OF:
        kinds = {item["_innovate_news"]["kind"] for item in data["items"]}
        assert kinds == {KIND_OF[folder]}


def test_rss_has_content_encoded_guid_and_self_link(site: Path) -> None:
    root = etree.parse(site / "feed.xml").getroot()
    ns = {
        "content": "http://purl.org/rss/1.0/modules/content/",
        "atom": "http://www.w3.org/2005/Atom",
    }
    items = root.findall("channel/item")
    assert len(items) == 12
    for item in items:
        assert item.findtext("content:encoded", namespaces=ns)
        assert item.find("guid").get("isPermaLink") == "false"
        assert item.findtext("pubDate")
        assert item.find("author") is None  # RSS <author> must be an email; names go in dc:creator
    [self_link] = root.findall("channel/atom:link", ns)
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == f"{BASE}feed.xml"
    assert root.findtext("channel/link") == BASE


def test_atom_has_content_updated_and_links(site: Path) -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = etree.parse(site / "blog" / "atom.xml").getroot()
    links = {link.get("rel"): link.get("href") for link in root.findall("a:link", ns)}
    assert links == {"self": f"{BASE}blog/atom.xml", "alternate": f"{BASE}blog/"}
    assert root.findtext("a:updated", namespaces=ns) == "2023-02-14T00:00:00+00:00"
    for entry in root.findall("a:entry", ns):
        content = entry.find("a:content", ns)
        assert content is not None and content.get("type") == "html" and content.text
        assert entry.findtext("a:updated", namespaces=ns)
        assert entry.findtext("a:published", namespaces=ns)


def test_json_feed_has_the_required_fields_of_version_1_1(site: Path) -> None:
    for folder in FOLDERS:
        data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert isinstance(data["title"], str) and data["title"]
        assert data["home_page_url"] == f"{BASE}{folder}"
        assert data["feed_url"] == f"{BASE}{folder}feed.json"
        assert data["language"] == "en-GB"
        assert data["authors"] == [{"name": "The Innovate Project team"}]
        assert "author" not in data  # 1.0's field, deprecated in 1.1
        assert len(data["items"]) == FOLDERS[folder]
        for item in data["items"]:
            assert isinstance(item["id"], str) and item["id"]
            assert item["url"].startswith(f"{BASE}posts/")
            assert item["content_html"].strip()
            assert item["summary"]
            assert item["authors"] and all(a["name"] for a in item["authors"])
            dt.datetime.fromisoformat(item["date_published"])  # RFC 3339
            dt.datetime.fromisoformat(item["date_modified"])
        published = [item["date_published"] for item in data["items"]]
        assert published == sorted(published, reverse=True)


def test_event_entries_carry_start_end_and_place(site: Path) -> None:
    data = json.loads((site / "events" / "feed.json").read_text(encoding="utf-8"))
    reunion = next(i for i in data["items"] if i["url"].endswith("/network-reunion-2027/"))
    event = reunion["_innovate_news"]["event"]
    assert event["start"] == "2027-03-10T10:00:00+00:00"
    assert event["end"] == "2027-03-10T15:00:00+00:00"
    assert event["location"].startswith("Example venue")
    assert (
        "<strong>When:</strong> Wednesday 10 March 2027, 10:00–15:00 (GMT)"
        in reunion["content_html"]
    )
    assert "<strong>Where:</strong> Example venue" in reunion["content_html"]
    rss = parsed(site / "events" / "feed.xml")
    summer = next(e for e in rss.entries if e.link.endswith("/guidance-launch-workshop/"))
    assert "(BST)" in summer.content[0].value  # a July event is shown in summer time


def test_entry_ids_survive_a_title_change(
    project: Path, site: Path, run: Callable[..., Result]
) -> None:
    def ids_and_titles() -> dict[str, list[tuple[str, str]]]:
        out = {}
        for name in ("feed.xml", "atom.xml", "blog/feed.xml", "blog/atom.xml"):
            out[name] = [(e.id, e.title) for e in parsed(site / name).entries]
        data = json.loads((site / "feed.json").read_text(encoding="utf-8"))
        out["feed.json"] = [(i["id"], i["title"]) for i in data["items"]]
        return out

    before = ids_and_titles()
    edit(
        project / "posts" / "2023-02-14-working-with-stakeholders.md",
        'title: "',
        'title: "Renamed: ',
    )
    assert run("build", "--now", "2026-11-25T12:00").exit_code == 0
    after = ids_and_titles()
    for name, entries in before.items():
        assert [i for i, _ in after[name]] == [i for i, _ in entries], name
        changed = [(a, b) for (_, a), (_, b) in zip(entries, after[name], strict=True) if a != b]
        assert len(changed) == 1 and changed[0][1].startswith("Renamed: "), name


def test_feed_items_limits_every_feed(project: Path, run: Callable[..., Result]) -> None:
    path = project / "innovate-news.toml"
    edit(path, "feed_items = 50", "feed_items = 2")
    assert run("build", "--now", "2026-11-25T12:00").exit_code == 0
    site = project / "site"
    for folder in FOLDERS:
        for name in XML_FEEDS:
            assert len(parsed(site / folder / name).entries) == 2, folder + name
        data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
        assert len(data["items"]) == 2
    newest = [e.link for e in parsed(site / "feed.xml").entries]
    assert newest == [
        f"{BASE}posts/network-reunion-2027/",
        f"{BASE}posts/guidance-launch-workshop/",
    ]
    # the archive page still lists every post: only the feeds are limited
    archive = (site / "posts" / "index.html").read_text(encoding="utf-8")
    assert archive.count('<li><time datetime="') == 12


def test_websub_hub_is_announced_in_every_format(project: Path, run: Callable[..., Result]) -> None:
    hub = "https://hub.example.net/"
    edit(
        project / "innovate-news.toml", "feed_items = 50", f'feed_items = 50\nwebsub_hub = "{hub}"'
    )
    assert run("build", "--now", "2026-11-25T12:00").exit_code == 0
    site = project / "site"
    for folder in FOLDERS:
        for name in XML_FEEDS:
            feed = parsed(site / folder / name)
            rels = {link.rel: link.href for link in feed.feed.links}
            assert rels["hub"] == hub
            assert rels["self"] == f"{BASE}{folder}{name}"
            assert rels["alternate"] == f"{BASE}{folder}"
        data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
        assert data["hubs"] == [{"type": "WebSub", "url": hub}]


def test_without_a_hub_no_hub_link(site: Path) -> None:
    for name in XML_FEEDS:
        assert b'rel="hub"' not in (site / name).read_bytes()
    assert "hubs" not in json.loads((site / "feed.json").read_text(encoding="utf-8"))


def test_relative_links_in_posts_are_absolute_in_feeds(site: Path) -> None:
    data = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    welcome = next(
        i for i in data["items"] if i["url"].endswith("/welcome-to-the-innovate-project/")
    )
    # the post writes /innovate/posts/why-extra-familial-harm/
    assert f'href="{BASE}posts/why-extra-familial-harm/"' in welcome["content_html"]
    networks = next(
        i for i in data["items"] if i["url"].endswith("/learning-and-development-networks/")
    )
    assert networks["image"] == f"{BASE}images/networks.svg"


def test_before_anything_is_published_every_feed_is_valid_and_empty(
    project: Path, run: Callable[..., Result]
) -> None:
    assert run("build", "--now", "2020-01-01").exit_code == 0
    site = project / "site"
    for folder in FOLDERS:
        for name in XML_FEEDS:
            assert parsed(site / folder / name).entries == []
        data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
        assert data["items"] == []
    assert "Nothing published yet." in (site / "index.html").read_text(encoding="utf-8")
