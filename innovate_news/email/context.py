"""What the issue templates see: sections of post cards, event details, footer and colours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from innovate_news import layout, templating
from innovate_news.content import editorial, markdown, record
from innovate_news.content.issues import Issue
from innovate_news.content.posts import KINDS, Post
from innovate_news.content.record import PostRecord
from innovate_news.email import images
from innovate_news.settings import Settings

SECTION_TITLES = {"finding": "New findings", "blog": "From the blog", "event": "Upcoming events"}
TOPICS = frozenset(KINDS)
_GOOGLE = "https://calendar.google.com/calendar/render"


@dataclass(frozen=True)
class Palette:
    """Colours for light and dark mode; each text/background pair keeps WCAG AA (4.5:1)."""

    brand: str
    accent: str
    page: str = "#f3f4f6"
    card: str = "#ffffff"
    text: str = "#1f2933"
    muted: str = "#4b5563"
    dark_page: str = "#0f1419"
    dark_card: str = "#1a2129"
    dark_text: str = "#e6e9ed"
    dark_muted: str = "#b4bcc6"
    dark_link: str = "#9ecbff"
    dark_brand: str = "#2a5a96"  # 2.3:1 against dark_card: the band stands out; white 7:1


def palette(settings: Settings) -> Palette:
    return Palette(brand=settings.email["brand_colour"], accent=settings.email["accent_colour"])


def post_record(settings: Settings, post: Post) -> PostRecord:
    """The same per-post record the build keeps (so the site and the email agree)."""
    url = record.post_url(settings.base_url, post.slug)
    html = markdown.render(post.body, url, settings.base_url)
    return record.of(post, settings.base_url, record.summary_of(post, html))


def card(settings: Settings, meta: Mapping[str, Any], issue_date: dt.datetime) -> dict[str, Any]:
    """A post record plus what a card shows: a readable date, authors and event details."""
    zone = settings.timezone
    date = dt.datetime.fromisoformat(meta["date"]).astimezone(zone)
    out = dict(meta)
    out["day"] = templating.format_day(date)
    out["authors_text"] = _names(meta["authors"])
    out["event"] = _event(settings, meta, issue_date) if meta.get("event") else None
    out["email_image"] = images.card_image(settings, meta.get("image"))
    return out


def _names(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _event(settings: Settings, meta: Mapping[str, Any], issue_date: dt.datetime) -> dict[str, Any]:
    info = meta["event"]
    zone = settings.timezone
    start = dt.datetime.fromisoformat(info["start"]).astimezone(zone)
    end = dt.datetime.fromisoformat(info["end"]).astimezone(zone) if info["end"] else None
    when = f"{templating.format_day(start)}, {start:%H:%M}"
    if end is not None:
        when += (
            f"–{end:%H:%M}"
            if end.date() == start.date()
            else (f" to {templating.format_day(end)}, {end:%H:%M}")
        )
    when += f" ({start.tzname()})"
    return {
        **info,
        "when": when,
        "upcoming": (end or start) >= issue_date,
        "ics_url": settings.base_url + layout.event_calendar(meta["slug"]),
        "google_url": google_calendar_url(meta, start, end),
    }


def google_calendar_url(
    meta: Mapping[str, Any], start: dt.datetime, end: dt.datetime | None
) -> str:
    """An "add to Google Calendar" link: times in UTC, the post's page in the details."""
    finish = end or start + dt.timedelta(hours=1)
    stamp = "%Y%m%dT%H%M%SZ"
    info = meta["event"]
    query = {
        "action": "TEMPLATE",
        "text": meta["title"],
        "dates": f"{start.astimezone(dt.UTC):{stamp}}/{finish.astimezone(dt.UTC):{stamp}}",
        "details": f"{meta['summary']}\n\n{meta['url']}",
        "location": info["location"] or info["online_url"] or "",
    }
    return f"{_GOOGLE}?{urlencode(query)}"


def sections(cards: Iterable[Mapping[str, Any]], topics: frozenset[str]) -> list[dict[str, Any]]:
    """New findings, then the blog, then events; only the kinds in `topics`, never empty ones."""
    chosen = list(cards)
    out = []
    for kind in KINDS:
        posts = [c for c in chosen if c["kind"] == kind]
        if kind in topics and posts:
            out.append({"kind": kind, "title": SECTION_TITLES[kind], "posts": posts})
    return out


def context(
    settings: Settings,
    issue: Issue,
    cards: Sequence[Mapping[str, Any]],
    topics: frozenset[str],
    recipient: Mapping[str, str],
) -> dict[str, Any]:
    """Everything issue.mjml.j2 and issue.txt.j2 use; `recipient` holds placeholders."""
    email = settings.email
    site = settings.site
    url = issue.url(settings)
    footer_lines = list(email["footer"]) or [
        f"You are receiving this because you subscribed to news from {site['title']}."
    ]
    return {
        "site": site,
        "base_url": settings.base_url,
        "issue": {
            "subject": issue.subject,
            "preheader": issue.preheader or "",
            "slug": issue.slug,
            "date": issue.date.isoformat(),
            "day": templating.format_day(issue.date.astimezone(settings.timezone)),
            "url": url,
        },
        "editorial": markdown.render(
            editorial.for_topics(issue.body, topics), url, settings.base_url
        ),
        "sections": sections(cards, topics),
        "recipient": recipient,
        "sign_off": list(email["sign_off"]),
        "logo": {"src": email["logo_url"], "alt": email["logo_alt"]} if email["logo_url"] else None,
        "footer": {
            "lines": footer_lines,
            "funder": site["funder"],
            "postal": email["postal_address"],
            "view_url": url,
            "unsubscribe_url": recipient["unsubscribe_url"],
            "preferences_url": recipient["preferences_url"],
            "has_preferences": bool(email["preferences_url"]),
        },
        "colours": palette(settings),
        "host": urlsplit(settings.base_url).hostname or "",
    }
