"""The email body: MJML compiled, styles inlined, sections, cards, footer, text part, dark mode."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import cast

import pytest

from innovate_news import settings as settings_module
from innovate_news import templating
from innovate_news.audience.tokens import Keyring
from innovate_news.content import issues
from innovate_news.email import checks as email_checks
from innovate_news.email import context as email_context
from innovate_news.email import newsletter, render
from innovate_news.email.newsletter import Newsletter, Variant
from innovate_news.errors import RenderError
from innovate_news.settings import Settings
from tests.support import NOW

SECRET = "render-tests-secret-0123456789"


def prepare(settings: Settings, slug: str = "2023-06-guidance-year") -> Newsletter:
    issue = issues.resolve(settings, slug)
    return newsletter.prepare(settings, issue, Keyring.parse(SECRET), NOW)


@pytest.fixture
def everything(settings: Settings) -> Variant:
    variant = prepare(settings).variant_for(frozenset())
    assert variant is not None
    return variant


class Elements(HTMLParser):
    """Start tags with their attributes, in document order."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def test_sections_in_order_with_every_post(everything: Variant) -> None:
    html = everything.html
    positions = [html.index(title) for title in email_context.SECTION_TITLES.values()]
    assert positions == sorted(positions)
    for title in (
        "Inside the fieldwork: how the six case studies are designed",
        "The final year: working with stakeholders",
        "Guidance launch workshop",
    ):
        assert title in html and title in everything.text
    assert 'href="https://example.org/innovate/posts/working-with-stakeholders/"' in html
    assert "Read more" not in html  # the title is the link


def test_event_card_has_time_place_booking_and_calendar(everything: Variant) -> None:
    html = everything.html
    assert "Wednesday 5 July 2023, 10:00–13:00 (BST)" in html
    assert "Example venue (address sent on booking)" in html
    assert 'href="https://example.org/innovate/events/guidance-launch-stream"' in html
    assert 'href="https://example.org/innovate/events/guidance-launch-booking"' in html
    assert 'href="https://example.org/innovate/events/guidance-launch-workshop.ics"' in html
    google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', html)
    assert google is not None
    assert "dates=20230705T090000Z%2F20230705T120000Z" in google.group(1)  # BST is UTC+1
    assert "&amp;text=Guidance+launch+workshop" in google.group(1)


def test_event_times_are_shown_in_the_site_time_zone(settings: Settings, project: Path) -> None:
    (project / "posts" / "2023-05-01-berlin-talk.md").write_text(
        "---\ntitle: Berlin talk\ndate: 2023-05-01\nkind: event\nevent:\n"
        "  start: 2023-07-10T18:00:00+02:00\n  location: Berlin\n---\n\nA talk.\n",
        encoding="utf-8",
    )
    (project / "issues" / "2023-06-guidance-year.md").write_text(
        "---\nsubject: Talk\ndate: 2023-06-20\npreheader: p\nposts: [berlin-talk]\n---\n\nHi.\n",
        encoding="utf-8",
    )
    variant = prepare(settings).variant_for(frozenset())
    assert variant is not None
    assert "Monday 10 July 2023, 17:00 (BST)" in variant.html
    assert "When: Monday 10 July 2023, 17:00 (BST)" in variant.text


def test_footer(everything: Variant) -> None:
    html, text = everything.html, everything.text
    for content in (html, " ".join(text.split())):
        assert "You are receiving this because you signed up for updates" in content
        assert "funded by the Economic and Social Research Council" in content
        assert "Example Street, Example Town EX1 2MP" in content
        assert everything.placeholders["unsubscribe_url"] in content
        assert everything.placeholders["preferences_url"] in content
        assert everything.placeholders["address"] in content
    assert re.search(
        r'href="https://example.org/innovate/issues/2023-06-guidance-year/"[^>]*>View in', html
    )
    assert "[1] https://example.org/innovate/issues/2023-06-guidance-year/" in text


def test_accessibility_and_dark_mode_markup(everything: Variant) -> None:
    html = everything.html
    elements = Elements(html)
    assert elements.all("html")[0]["lang"] == "en-GB"
    assert any(
        attrs.get("lang") == "en-GB" for attrs in elements.all("div")
    )  # webmail drops <html>: the wrapper keeps the language
    assert {"name": "color-scheme", "content": "light dark"}.items() <= next(
        attrs for attrs in elements.all("meta") if attrs.get("name") == "color-scheme"
    ).items()
    assert "@media (prefers-color-scheme: dark)" in html
    assert all(t.get("role") == "presentation" for t in elements.all("table"))
    assert all(img.get("alt") for img in elements.all("img"))
    assert 'style="display:none' in html and "Our final year is about" in html  # the preheader


def test_inline_styles_are_applied_and_media_queries_kept(everything: Variant) -> None:
    """mjml-python leaves <mj-style inline="inline"> in <style>; css-inline moves it inline."""
    elements = Elements(everything.html)
    titles = [
        a
        for a in elements.all("a")
        if cast(str, a.get("href", "")).endswith("/working-with-stakeholders/")
    ]
    assert any("text-decoration: none" in (a.get("style") or "") for a in titles)
    metas = [p for p in elements.all("p") if "in-meta" in (p.get("class") or "")]
    assert metas and all("font-size: 14px" in (p.get("style") or "") for p in metas)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", everything.html, flags=re.S)
    assert any("prefers-color-scheme: dark" in s for s in styles)
    assert any("@media only screen and (min-width:480px)" in s for s in styles)


def test_colours_keep_aa_contrast_in_light_and_dark(settings: Settings) -> None:
    c = email_context.palette(settings)
    pairs = [
        (c.text, c.card), (c.muted, c.card), (c.brand, c.card), ("#ffffff", c.brand),
        (c.dark_text, c.dark_card), (c.dark_muted, c.dark_card), (c.dark_link, c.dark_card),
        ("#ffffff", c.dark_brand), ("#0b1520", c.dark_link),
    ]  # fmt: skip
    for foreground, background in pairs:
        assert email_checks.contrast(foreground, background) >= 4.5, (foreground, background)


def test_text_part_is_written_for_reading(everything: Variant) -> None:
    text = everything.text
    lines = text.splitlines()
    assert text.startswith("THE INNOVATE PROJECT\nThe guidance year: from research to practice\n")
    assert "NEW FINDINGS\n============" in text
    assert "<" not in text.replace("<https", "")  # no markup
    references = dict(re.findall(r"^\[(\d+)\] (\S+)$", text, flags=re.M))
    assert references["2"] == "https://example.org/innovate/events/guidance-launch-booking"
    assert "book early [2]" in text
    assert "Book a place: [2]" in text  # the same link keeps its number
    for line in lines:
        if not line.startswith(("[", "Unsubscribe:", "Update your")):
            assert len(line) <= 78, line


def test_topics_choose_sections(settings: Settings) -> None:
    newsletter = prepare(settings)
    events = newsletter.variant_for({"event"})
    assert events is not None and events.key == "event"
    assert "Upcoming events" in events.html and "UPCOMING EVENTS" in events.text
    assert "New findings" not in events.html and "From the blog" not in events.html
    assert "NEW FINDINGS" not in events.text
    both = newsletter.variant_for({"finding", "blog"})
    assert both is not None and "Upcoming events" not in both.html
    assert newsletter.variant_for(set()) is newsletter.variant_for({"finding", "blog", "event"})


def test_values_are_escaped_for_html(settings: Settings, project: Path) -> None:
    (project / "issues" / "2023-06-guidance-year.md").write_text(
        '---\nsubject: "Tom & Jerry <b>"\ndate: 2023-06-20\npreheader: p\nposts: []\n---\n\n'
        "Hi <script>alert(1)</script> & bye.\n",
        encoding="utf-8",
    )
    variant = prepare(settings).variant_for(frozenset())
    assert variant is not None
    assert "<title>Tom &amp; Jerry &lt;b&gt;</title>" in variant.html
    assert "<script>" not in variant.html
    assert "Tom & Jerry <b>" in variant.text


def test_a_site_can_restyle_one_card(settings: Settings, project: Path) -> None:
    own = project / "own-templates" / "email"
    own.mkdir(parents=True)
    (own / "_card.mjml.j2").write_text(
        '<mj-section>\n<mj-column>\n<mj-text><p class="mine">{{ post.title }}</p></mj-text>\n'
        "</mj-column>\n</mj-section>\n",
        encoding="utf-8",
    )
    toml = project / "innovate-news.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[paths]\ntemplates = "own-templates"\n',
        encoding="utf-8",
    )
    variant = prepare(settings_module.load(toml)).variant_for(frozenset())
    assert variant is not None
    assert re.search(
        r'<p class="mine"[^>]*>The final year: working with stakeholders</p>', variant.html
    )
    assert "Wednesday 5 July 2023" in variant.html  # the event card is still the default one


def test_broken_mjml_is_a_render_error_naming_the_template() -> None:
    with pytest.raises(RenderError, match=r"issue\.mjml\.j2 did not compile"):
        render.compile_mjml("<mjml><mj-body><mj-text>unclosed</mj-body></mjml>")
    spaced = (
        "<mjml>\n<mj-head><mj-title>a</mj-title>  <mj-preview>b</mj-preview></mj-head>\n</mjml>"
    )
    with pytest.raises(RenderError, match="rendered line 2: '<mj-head><mj-title>a</mj-title>  <"):
        render.compile_mjml(spaced)


def test_editorial_without_posts_goes_to_everyone(settings: Settings, project: Path) -> None:
    (project / "issues" / "2023-06-guidance-year.md").write_text(
        "---\nsubject: Just news\ndate: 2023-06-20\npreheader: p\nposts: []\n---\n\nNews.\n",
        encoding="utf-8",
    )
    newsletter = prepare(settings)
    variant = newsletter.variant_for({"event"})
    assert variant is not None and variant.key == "editorial"
    assert "Upcoming events" not in variant.html


def test_a_template_without_an_unsubscribe_link_is_refused(
    settings: Settings, project: Path
) -> None:
    own = project / "own-templates" / "email"
    own.mkdir(parents=True)
    text = (templating.default_folder() / "email" / "issue.txt.j2").read_text(encoding="utf-8")
    (own / "issue.txt.j2").write_text(text.replace("{{ footer.unsubscribe_url }}", ""), "utf-8")
    toml = project / "innovate-news.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[paths]\ntemplates = "own-templates"\n', "utf-8"
    )
    newsletter = prepare(settings_module.load(toml))
    with pytest.raises(RenderError, match="text part of the email has no unsubscribe_url link"):
        newsletter.variant_for(frozenset())
