"""The site as a reader meets it: subscribing, privacy, following, events, the home page and
the one-of-a-kind files (404, sitemap.xml, robots.txt), read back by an HTML parser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from lxml import etree  # type: ignore[import-untyped]
from lxml import html as lxml_html

from innovate_news import settings as settings_module
from innovate_news.content import markdown

BASE = "https://example.org/innovate/"
SIGNUP = "https://example.org/innovate/subscribe"
NOW_ARG = ("--now", "2026-11-25T12:00")
PAST_EVENT = "posts/guidance-launch-workshop/index.html"
COMING_EVENT = "posts/network-reunion-2027/index.html"


@pytest.fixture
def site(project: Path, run: Callable[..., Result]) -> Path:
    result = run("build", *NOW_ARG)
    assert result.exit_code == 0, result.output
    return project / "site"


def page(site: Path, relative: str) -> Any:
    return lxml_html.fromstring((site / relative).read_bytes())


def texts(tree: Any, xpath: str) -> list[str]:
    return [" ".join(el.text_content().split()) for el in tree.xpath(xpath)]


def html_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def test_every_page_offers_the_newsletter_privacy_and_follow(site: Path) -> None:
    for relative in html_pages(site):
        tree = page(site, relative)
        header = tree.xpath('//header[@class="masthead"]//a[.="Get the newsletter"]/@href')
        assert header == [SIGNUP], relative
        footer = {a.text_content(): a.get("href") for a in tree.xpath("//footer//a")}
        assert footer["Get the newsletter"] == SIGNUP, relative
        assert footer["Privacy notice"] == f"{BASE}privacy/", relative
        assert footer["Follow (feeds and calendar)"] == f"{BASE}follow/", relative
        # The feeds moved to the Follow page: the footer is three links, not ten.
        assert len(footer) == 3, relative


def test_posts_and_issues_end_with_a_sign_up_link(site: Path) -> None:
    for relative in (
        "posts/why-extra-familial-harm/index.html",
        "issues/2023-06-guidance-year/index.html",
    ):
        tree = page(site, relative)
        [box] = tree.xpath('//aside[@class="subscribe-box"]')
        assert box.xpath('.//a[.="Get the newsletter"]/@href') == [SIGNUP]
        assert box.getprevious().tag == "article"  # after the post, not before it


def test_privacy_page_says_what_why_how_long_and_how_to_leave(site: Path) -> None:
    tree = page(site, "privacy/index.html")
    assert texts(tree, "//h1") == ["Privacy notice"]
    assert texts(tree, "//main//h2") == [
        "What we store",
        "Why",
        "For how long",
        "How to leave or be erased",
    ]
    assert "unsubscribe link" in tree.text_content()


def test_privacy_text_comes_from_settings(project: Path, run: Callable[..., Result]) -> None:
    toml = project / "innovate-news.toml"
    text = toml.read_text(encoding="utf-8").replace(
        "[site]\n", '[site]\nprivacy_notice = ["We keep your address.", "Write to leave."]\n'
    )
    toml.write_text(text, encoding="utf-8")
    result = run("build", *NOW_ARG)
    assert result.exit_code == 0, result.output
    tree = page(project / "site", "privacy/index.html")
    assert texts(tree, "//main/p")[:2] == ["We keep your address.", "Write to leave."]


def test_sign_up_form_links_the_privacy_notice(project: Path) -> None:
    from innovate_news import templating

    settings = settings_module.load(project / "innovate-news.toml")
    html = templating.render(
        settings, "site/list_subscribe.html", site=settings.site, url=SIGNUP, feeds=[],
        heading="Sign up", problem="", action=SIGNUP, form={"email": "", "name": ""},
        topics=[], consent_version="v1", consent_text="I agree.",
    )  # fmt: skip
    tree = lxml_html.fromstring(html)
    assert tree.xpath('//main//a[.="privacy notice"]/@href') == [f"{BASE}privacy/"]


def test_follow_page_lists_every_feed_and_the_calendar(site: Path) -> None:
    tree = page(site, "follow/index.html")
    hrefs = tree.xpath("//main//a/@href")
    for folder in ("", "findings/", "blog/", "events/"):
        for name in ("feed.xml", "atom.xml", "feed.json"):
            assert f"{BASE}{folder}{name}" in hrefs
    assert f"{BASE}events.ics" in hrefs


def test_event_pages_lead_with_the_event_date_and_past_ones_have_ended(site: Path) -> None:
    past = page(site, PAST_EVENT)
    [lead] = past.xpath('//header[@class="post-header"]/p[contains(@class, "event-date")]')
    assert lead.xpath("a")[0].text == "Event"
    assert lead.xpath("time/@datetime")[0].startswith("2023-07-05")  # not the posting day
    assert texts(past, '//*[@class="ended"]') == ["This event has ended"]
    links = texts(past, "//main//a")
    assert "Book a place" not in links and "Join online" not in links
    coming = page(site, COMING_EVENT)
    assert coming.xpath('//*[@class="ended"]') == []
    assert "Book a place" in texts(coming, "//main//a")


def test_home_page_leads_counts_events_and_shows_latest_posts(site: Path) -> None:
    tree = page(site, "index.html")
    [h1] = tree.xpath("//h1")
    assert "visually-hidden" in h1.get("class")  # the masthead already shows the name
    [lede] = texts(tree, '//section[@class="intro"]/p[@class="lede"]')
    assert lede.startswith("The Innovate Project studies how innovation happens")
    headings = texts(tree, "//main//h2")
    assert headings == ["Latest posts", "Upcoming events", "Newsletter issues"]
    assert texts(tree, '//p[@class="count"]') == ["1 event coming up"]
    cards = tree.xpath('//div[contains(@class, "latest")]/article')
    assert 1 <= len(cards) <= 6
    labels = set(texts(tree, '//article//span[@class="kind"]'))
    assert labels <= {"Finding", "Blog post", "Event"} and "Event" in labels


def test_event_cards_lead_with_the_event_date(site: Path) -> None:
    tree = page(site, "index.html")
    [card] = tree.xpath('//section[@aria-labelledby="upcoming"]//article')
    assert card.xpath('.//p[contains(@class, "event-date")]/time/@datetime')[0].startswith("2027-")


def test_404_sitemap_and_robots(site: Path) -> None:
    missing = page(site, "404.html")
    assert texts(missing, "//h1") == ["Page not found"]
    assert missing.xpath('//link[@rel="stylesheet"]/@href') == [f"{BASE}style.css"]
    tree = etree.fromstring((site / "sitemap.xml").read_bytes())
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = tree.xpath("//s:loc/text()", namespaces=ns)
    assert BASE in locs and f"{BASE}posts/why-extra-familial-harm/" in locs
    assert f"{BASE}issues/2023-06-guidance-year/" in locs
    assert len(locs) == len(set(locs))
    robots = (site / "robots.txt").read_text(encoding="utf-8")
    assert f"Sitemap: {BASE}sitemap.xml" in robots.splitlines()


def test_footnotes_have_a_heading_and_named_back_links() -> None:
    html = markdown.render("A claim[^1].\n\n[^1]: The source.", f"{BASE}p/", BASE)
    tree = lxml_html.fromstring(html)
    assert texts(tree, "//section/h2") == ["Notes"]
    [back] = tree.xpath("//section//li//a")
    assert back.get("aria-label") == "Back to reference 1"
