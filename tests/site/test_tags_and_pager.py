"""Tag pages and their feeds, previous/next links on posts and issues, and ended events on
issue pages: read back with an HTML parser, feedparser and json."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped]

from innovate_news import layout
from innovate_news import settings as settings_module
from innovate_news.site import build as build_module
from innovate_news.site.report import BuildReport
from tests.support import NOW

BASE = "https://example.org/innovate/"
NETWORKS = [  # the posts tagged "networks", newest first
    "network-reunion-2027",
    "network-meeting-spring-2022",
    "learning-and-development-networks",
]
UNSAFE_POST = """---
title: "Odd tags"
date: 2024-05-01
kind: blog
summary: "A post whose tags look like paths."
tags: ["../../escaped", "a/b", "Zoë Café", "///", "networks"]
---

Tags are words, not paths.
"""


def run_build(project: Path, now: dt.datetime = NOW) -> BuildReport:
    settings = settings_module.load(project / "innovate-news.toml")
    return build_module.build(settings, now=now, jobs=1)


def page(path: Path) -> Any:
    return lxml_html.fromstring(path.read_bytes())


def post_links(tree: Any, xpath: str) -> list[str]:
    """The post slugs that the links at `xpath` point to."""
    hrefs = tree.xpath(xpath)
    assert all(h.startswith(f"{BASE}posts/") for h in hrefs), hrefs
    return [h.removeprefix(f"{BASE}posts/").rstrip("/") for h in hrefs]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def pager(tree: Any, label: str) -> dict[str, tuple[str, str]]:
    """rel -> (href, link text) of the page's previous/next navigation."""
    [nav] = tree.xpath(f'//nav[@aria-label="{label}"]')
    return {
        a.get("rel"): (a.get("href"), " ".join(a.text_content().split())) for a in nav.iter("a")
    }


@pytest.fixture
def site(project: Path) -> Path:
    run_build(project)
    return project / "site"


def test_a_tag_page_lists_its_posts_newest_first_with_its_feeds(site: Path) -> None:
    tree = page(site / "tags" / "networks" / "index.html")
    assert tree.xpath("//h1")[0].text_content() == "Tagged “networks”"
    assert post_links(tree, '//ul[@class="archive"]//a/@href') == NETWORKS
    feeds = [f"{BASE}tags/networks/{name}" for name in ("feed.xml", "atom.xml", "feed.json")]
    assert tree.xpath('//link[@rel="alternate"]/@href')[3:] == feeds  # after the site's own
    assert tree.xpath('//p[@class="tag-feeds"]/a/@href')[:3] == feeds
    assert tree.xpath('//link[@rel="canonical"]/@href') == [f"{BASE}tags/networks/"]


def test_the_tag_index_links_every_tag(site: Path) -> None:
    tree = page(site / "tags" / "index.html")
    links = {a.text_content(): a.get("href") for a in tree.xpath('//ul[@class="tag-list"]//a')}
    assert len(links) == 27
    assert links["networks"] == f"{BASE}tags/networks/"
    assert "3 posts" in tree.xpath('//a[.="networks"]/..')[0].text_content()
    folders = {p.name for p in (site / "tags").iterdir() if p.is_dir()}
    assert folders == {href.removeprefix(f"{BASE}tags/").rstrip("/") for href in links.values()}
    assert "policy" in links  # the draft's other tags are on published posts too


def test_tags_on_post_pages_and_cards_link_to_their_pages(site: Path) -> None:
    post = page(site / "posts" / "network-reunion-2027" / "index.html")
    assert post.xpath('//p[@class="tags"]/a[.="networks"]/@href') == [f"{BASE}tags/networks/"]
    home = page(site / "index.html")
    cards = home.xpath('//article[contains(@class, "card")]//a[@class="tag"][.="networks"]/@href')
    assert cards and set(cards) == {f"{BASE}tags/networks/"}


@pytest.mark.parametrize("name", ["feed.xml", "atom.xml"])
def test_tag_feeds_parse_with_the_tags_posts(site: Path, name: str) -> None:
    feed = feedparser.parse((site / "tags" / "networks" / name).read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == ("rss20" if name == "feed.xml" else "atom10")
    assert feed.feed.title == "The Innovate Project: networks"
    assert [e.link.removeprefix(f"{BASE}posts/").rstrip("/") for e in feed.entries] == NETWORKS
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == [f"{BASE}tags/networks/{name}"]


def test_the_tag_json_feed(site: Path) -> None:
    feed = json.loads((site / "tags" / "networks" / "feed.json").read_bytes())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{BASE}tags/networks/feed.json"
    assert feed["home_page_url"] == f"{BASE}tags/networks/"
    assert [item["url"] for item in feed["items"]] == [f"{BASE}posts/{s}/" for s in NETWORKS]


def test_the_follow_page_and_sitemap_list_the_tags(site: Path) -> None:
    tree = page(site / "follow" / "index.html")
    hrefs = tree.xpath('//section[@aria-labelledby="tag-feeds"]//a/@href')
    assert f"{BASE}tags/networks/feed.xml" in hrefs and f"{BASE}tags/networks/feed.json" in hrefs
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{BASE}tags/networks/</loc>" in sitemap and f"<loc>{BASE}tags/</loc>" in sitemap


@pytest.mark.parametrize(
    ("tag", "slug"),
    [
        ("../../escaped", "escaped"),
        ("a/b", "a-b"),
        ("Zoë Café", "zoe-cafe"),
        ("..", "tag-" + hashlib.sha256(b"..").hexdigest()[:10]),  # nothing left: a digest
        ("Networks", "networks"),
    ],
)
def test_tag_slugs_are_safe_folder_names(tag: str, slug: str) -> None:
    assert layout.tag_slug(tag) == slug
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") and slug.strip("-") == slug
    assert slug not in {"", ".", ".."}


def test_tags_that_look_like_paths_stay_inside_tags(project: Path) -> None:
    (project / "posts" / "2024-05-01-odd-tags.md").write_text(UNSAFE_POST, encoding="utf-8")
    before = {p for p in project.rglob("*") if "site" not in p.parts}
    run_build(project)
    site = project / "site"
    after = {p for p in project.rglob("*") if "site" not in p.parts}
    assert {p for p in after - before if ".innovate-news" not in p.parts} == set()
    assert not (site / "escaped").exists() and not (project / "escaped").exists()
    for folder in ("escaped", "a-b", "zoe-cafe", layout.tag_slug("///")):
        assert (site / "tags" / folder / "index.html").is_file(), folder
        assert (site / "tags" / folder / "feed.json").is_file(), folder
    networks = page(site / "tags" / "networks" / "index.html")
    assert post_links(networks, '//ul[@class="archive"]//a/@href') == ["odd-tags", *NETWORKS]


def test_a_tag_no_post_has_any_more_loses_its_page_and_feeds(project: Path, site: Path) -> None:
    reunion = site / "tags" / "reunion"
    assert {p.name for p in reunion.iterdir()} == {
        "index.html",
        "feed.xml",
        "atom.xml",
        "feed.json",
    }
    post = project / "posts" / "2023-11-20-network-reunion-2027.md"
    edit(post, "tags: [networks, reunion, guidance]", "tags: [networks, guidance]")
    report = run_build(project)
    assert not reunion.exists()
    assert report.removed >= 4
    index = (site / "tags" / "index.html").read_text(encoding="utf-8")
    assert "tags/reunion/" not in index
    assert "tags/reunion/" not in (site / "follow" / "index.html").read_text(encoding="utf-8")


def test_previous_and_next_posts_by_date_across_kinds(site: Path) -> None:
    label = "Previous and next posts"
    middle = pager(page(site / "posts" / "why-extra-familial-harm" / "index.html"), label)
    assert middle["prev"] == (
        f"{BASE}posts/practice-survey-aims-and-methods/",
        "Previous The practice survey: aims and methods",
    )
    assert middle["next"] == (
        f"{BASE}posts/webinar-three-approaches/",
        "Next Webinar: three approaches to extra-familial harm",
    )
    oldest = pager(page(site / "posts" / "welcome-to-the-innovate-project" / "index.html"), label)
    assert list(oldest) == ["next"]
    newest = pager(page(site / "posts" / "network-reunion-2027" / "index.html"), label)
    assert list(newest) == ["prev"]
    # The draft between them is nobody's neighbour.
    assert newest["prev"][0] == f"{BASE}posts/guidance-launch-workshop/"


def test_editing_a_title_rewrites_that_post_and_its_neighbours_only(project: Path) -> None:
    run_build(project)
    pages = {p: p.stat().st_ino for p in (project / "site" / "posts").glob("*/index.html")}
    edit(project / "posts" / "2021-02-18-why-extra-familial-harm.md", 'title: "', 'title: "New: ')
    assert run_build(project).rendered == 1
    rewritten = {p.parent.name for p, inode in pages.items() if p.stat().st_ino != inode}
    assert rewritten == {
        "why-extra-familial-harm",
        "practice-survey-aims-and-methods",
        "webinar-three-approaches",
    }
    older = page(project / "site" / "posts" / "practice-survey-aims-and-methods" / "index.html")
    assert pager(older, "Previous and next posts")["next"][1].startswith("Next New: ")
    edit(project / "posts" / "2021-02-18-why-extra-familial-harm.md", "## ", "## Edited ")
    run_build(project)  # the body only: the neighbours' links are as they were
    again = {p.parent.name for p, inode in pages.items() if p.stat().st_ino != inode}
    assert again == rewritten


def test_issue_pages_link_the_previous_and_next_issue(site: Path) -> None:
    label = "Previous and next issues"
    issues = sorted(p.parent.name for p in (site / "issues").glob("*/index.html"))
    assert len(issues) >= 3
    first = pager(page(site / "issues" / issues[0] / "index.html"), label)
    assert list(first) == ["next"] and first["next"][0] == f"{BASE}issues/{issues[1]}/"
    last = pager(page(site / "issues" / issues[-1] / "index.html"), label)
    assert list(last) == ["prev"] and last["prev"][0] == f"{BASE}issues/{issues[-2]}/"
    middle = pager(page(site / "issues" / issues[1] / "index.html"), label)
    assert [middle["prev"][0], middle["next"][0]] == [
        f"{BASE}issues/{issues[0]}/",
        f"{BASE}issues/{issues[2]}/",
    ]


def test_issue_pages_show_ended_events_as_ended(project: Path) -> None:
    issue = project / "site" / "issues" / "2023-06-guidance-year" / "index.html"

    def workshop_card() -> str:
        tree = page(issue)
        [card] = tree.xpath(
            '//article[contains(@class, "card")][.//a[.="Guidance launch workshop"]]'
        )
        return " ".join(card.text_content().split())

    run_build(project, now=dt.datetime(2023, 6, 25, tzinfo=dt.UTC))  # before the workshop
    assert "This event has ended" not in workshop_card()
    run_build(project, now=dt.datetime(2023, 8, 1, tzinfo=dt.UTC))  # a warm build, after it
    card = workshop_card()
    assert "This event has ended" in card
    assert "Book a place" not in card and "Join online" not in card


def test_tag_feeds_carry_the_latest_tag_feed_items_posts(project: Path) -> None:
    edit(project / "innovate-news.toml", "[site]\n", "[site]\ntag_feed_items = 2\n")
    run_build(project)
    folder = project / "site" / "tags" / "networks"
    feed = feedparser.parse((folder / "atom.xml").read_bytes())
    assert [e.link.removeprefix(f"{BASE}posts/").rstrip("/") for e in feed.entries] == NETWORKS[:2]
    listed = page(folder / "index.html")  # the page itself still lists every post
    assert post_links(listed, '//ul[@class="archive"]//a/@href') == NETWORKS
