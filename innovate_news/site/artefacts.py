"""Everything one post contributes to the site, computed from that post alone (so in parallel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from innovate_news import layout, templating
from innovate_news.content import markdown, record
from innovate_news.content.posts import KIND_LABELS, KIND_TITLES, Post
from innovate_news.content.record import PostRecord
from innovate_news.settings import Settings
from innovate_news.site import calendar, citations, feeds, scholar
from innovate_news.templating import escape


@dataclass(frozen=True)
class Artefacts:
    """A post's page, feed entries and calendar event, plus the metadata the lists need."""

    meta: PostRecord
    page: bytes
    rss: bytes
    atom: bytes
    json: bytes
    ics: bytes  # empty for posts that are not events
    ended: bytes = b""  # an event's page once it has ended (empty for posts that are not events)
    bib: bytes = b""  # citation files (site.citations), empty for a post that is not citable
    ris: bytes = b""
    csl: bytes = b""


def entry_id(settings: Settings, post: Post) -> str:
    """A tag: URI (RFC 4151) from the site's host, the post's date and its slug.

    It does not involve the title, so editing a title keeps every reader's read/unread state.
    """
    host = urlsplit(settings.base_url).hostname or "localhost"
    path = urlsplit(settings.base_url).path.rstrip("/")
    return f"tag:{host},{post.date:%Y-%m-%d}:{path}/posts/{post.slug}"


def event_uid(settings: Settings, post: Post) -> str:
    host = urlsplit(settings.base_url).hostname or "localhost"
    return f"{post.slug}@{host}"


def event_html(post: Post) -> str:
    """When and where, at the top of an event's feed entry (feed readers show no custom fields)."""
    event = post.event
    if event is None:
        return ""
    when = f"{templating.format_day(event.start)}, {event.start:%H:%M}"
    if event.end is not None:
        same_day = event.end.date() == event.start.date()
        end = f"{event.end:%H:%M}" if same_day else templating.format_day(event.end)
        when += f"–{end}"
    rows = [f"<p><strong>When:</strong> {escape(when)} ({escape(event.start.tzname() or '')})"]
    if event.location:
        rows.append(f"<br><strong>Where:</strong> {escape(event.location)}")
    if event.online_url:
        rows.append(f'<br><strong>Online:</strong> <a href="{escape(event.online_url)}">join</a>')
    if event.booking_url:
        rows.append(f'<br><strong>Booking:</strong> <a href="{escape(event.booking_url)}">book</a>')
    return "".join(rows) + "</p>\n"


def build(settings: Settings, post: Post) -> Artefacts:
    url = record.post_url(settings.base_url, post.slug)
    html = markdown.render(post.body, url, settings.base_url)
    summary = record.summary_of(post, html)
    meta = record.of(post, settings.base_url, summary)
    entry = feeds.EntryData(
        id=entry_id(settings, post),
        url=url,
        title=post.title,
        summary=summary,
        html=event_html(post) + html,
        published=post.date,
        updated=post.updated or post.date,
        authors=tuple(a.name for a in post.authors),
        tags=post.tags,
        image_url=meta["image"]["src"] if meta["image"] else None,
        extension={"kind": post.kind} | ({"event": meta["event"]} if post.event else {}),
        rights=scholar.licence_of(settings, post),
        doi=post.scholarly.doi,
    )
    cited = citations.for_post(settings, post, meta)
    page, ended = pages(settings, post, meta, html, summary, cited.context)
    ics = b""
    if post.event is not None:
        ics = calendar.vevent(
            uid=event_uid(settings, post),
            title=post.title,
            start=post.event.start,
            end=post.event.end,
            stamp=post.updated or post.date,
            url=url,
            description=summary,
            location=post.event.location or post.event.online_url,
            tzid=settings.site["timezone"],
        )
    fragments = feeds.fragments(entry)
    return Artefacts(
        meta=meta,
        page=page,
        rss=fragments["rss"],
        atom=fragments["atom"],
        json=fragments["json"],
        ics=ics,
        ended=ended,
        bib=cited.files.get("bib", b""),
        ris=cited.files.get("ris", b""),
        csl=cited.files.get("csl", b""),
    )


def pages(
    settings: Settings,
    post: Post,
    meta: PostRecord,
    html: str,
    summary: str,
    cite: dict[str, Any] | None = None,
) -> tuple[bytes, bytes]:
    """The post's page, and for an event also its page once the event has ended: whether it
    is over depends on the build's clock, so both are kept and the writer chooses (the choice
    is in the page's key, site.writer)."""
    context = {
        "site": settings.site,
        "root": "../../",  # relative, so the stylesheet also loads from a local copy of the site
        "post": post,
        "meta": meta,
        "html": html,
        "summary": summary,
        "url": meta["url"],
        "feeds": layout.feed_links(settings.base_url, post.kind, KIND_TITLES[post.kind]),
        "kind_title": KIND_TITLES[post.kind],
        "kind_label": KIND_LABELS[post.kind],
        "kind_url": settings.base_url + layout.section(post.kind),
        "jsonld": jsonld(settings, post, meta) | scholar.jsonld(settings, post, meta),
        "cite": cite,
        "ics_url": settings.base_url + layout.event_calendar(post.slug) if post.event else None,
    }
    page = templating.render(settings, "site/post.html", ended=False, **context)
    if post.event is None:
        return page.encode("utf-8"), b""
    ended = templating.render(settings, "site/post.html", ended=True, **context)
    return page.encode("utf-8"), ended.encode("utf-8")


def orcid_url(orcid: str) -> str:
    return f"https://orcid.org/{orcid}"


def jsonld(settings: Settings, post: Post, meta: PostRecord) -> dict[str, Any]:
    """schema.org: an Event for events, an Article for everything else."""
    authors = [
        {
            "@type": "Person",
            "name": a.name,
            # ORCID iDs as both, which is how Google and Zotero each look for them.
            **({"sameAs": orcid_url(a.orcid), "identifier": orcid_url(a.orcid)} if a.orcid else {}),
        }
        if a.name != settings.site["author"]
        else {"@type": "Organization", "name": a.name}
        for a in post.authors
    ]
    publisher = {"@type": "Organization", "name": settings.site["title"], "url": settings.base_url}
    common: dict[str, Any] = {
        "@context": "https://schema.org",
        "url": meta["url"],
        "description": meta["summary"],
        "inLanguage": settings.site["language"],
    }
    if meta["image"]:
        common["image"] = meta["image"]["src"]
    if post.event is None:
        return {
            **common,
            "@type": "Article",
            "headline": post.title,
            "datePublished": meta["date"],
            "dateModified": meta["updated"],
            "author": authors,
            "publisher": publisher,
            "mainEntityOfPage": meta["url"],
            "keywords": list(post.tags),
        }
    event = post.event
    online = event.online_url is not None
    in_person = event.location is not None
    mode = "Mixed" if online and in_person else ("Online" if online else "Offline")
    locations: list[dict[str, Any]] = []
    if in_person:
        locations.append({"@type": "Place", "name": event.location, "address": event.location})
    if online:
        locations.append({"@type": "VirtualLocation", "url": event.online_url})
    data = {
        **common,
        "@type": "Event",
        "name": post.title,
        "startDate": event.start.isoformat(),
        "eventAttendanceMode": f"https://schema.org/{mode}EventAttendanceMode",
        "eventStatus": "https://schema.org/EventScheduled",
        "organizer": publisher,
        "location": locations[0] if len(locations) == 1 else locations,
    }
    if event.end:
        data["endDate"] = event.end.isoformat()
    if event.booking_url:
        data["offers"] = {"@type": "Offer", "url": event.booking_url}
    return data
