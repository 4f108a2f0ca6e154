"""A post's public record: the facts about it that lists, feeds, calendars and emails show.

The build keeps one record per post in its cache index, so a list or an email never has to
read or render the post again.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypedDict

from innovate_news import layout
from innovate_news.content import markdown
from innovate_news.content.posts import Post


class ImageRecord(TypedDict):
    src: str | None  # None when the image's URL has a scheme the sanitiser refuses
    alt: str


class EventRecord(TypedDict):
    start: str
    end: str | None
    location: str | None
    online_url: str | None
    booking_url: str | None


class OutputRecord(TypedDict):
    title: str
    type: str
    url: str
    year: int | None
    doi: str | None


class CitationRecord(TypedDict):
    """What a citation of the post needs beyond its other facts (content.scholarly)."""

    cites: bool  # has a "How to cite" block and citation files (see `citable`)
    doi: str | None
    licence: str | None  # the post's own; the site's `licence` setting applies when None
    funder: dict[str, str | None] | None
    outputs: list[OutputRecord]


class PostRecord(CitationRecord):
    """What a post page's template gets of the post, less its body (JSON-friendly)."""

    slug: str
    kind: str
    title: str
    date: str
    updated: str
    ts: float  # `date` as a number, for sorting thousands of posts without parsing dates
    updated_ts: float
    starts: float | None  # an event's start and end as numbers; None for other kinds
    ends: float | None
    digest: str  # of every other field: a page that lists the post changes when it does
    summary: str
    authors: list[str]
    tags: list[str]
    draft: bool
    url: str
    path: str
    image: ImageRecord | None
    event: EventRecord | None


def citable(post: Post) -> bool:
    """Findings, and any post with a DOI or research outputs, can be cited."""
    facts = post.scholarly
    return post.kind == "finding" or facts.doi is not None or bool(facts.outputs)


def post_url(base_url: str, slug: str) -> str:
    return base_url + layout.post_folder(slug)


def summary_of(post: Post, html: str) -> str:
    return post.summary if post.summary else markdown.first_paragraph(html)


def of(post: Post, base_url: str, summary: str) -> PostRecord:
    """The JSON-friendly facts about a post that index pages, calendars and emails use."""
    event = post.event
    record: PostRecord = {
        "slug": post.slug,
        "kind": post.kind,
        "title": post.title,
        "date": post.date.isoformat(),
        "updated": (post.updated or post.date).isoformat(),
        # The same moments as numbers, for sorting thousands of posts without parsing dates.
        "ts": post.date.timestamp(),
        "updated_ts": (post.updated or post.date).timestamp(),
        "starts": event.start.timestamp() if event else None,
        "ends": (event.end or event.start).timestamp() if event else None,
        "digest": "",
        "summary": summary,
        "authors": [a.name for a in post.authors],
        "tags": list(post.tags),
        "draft": post.draft,
        "url": post_url(base_url, post.slug),
        "path": str(post.path),
        "image": (
            ImageRecord(src=markdown.absolute(post.image.src, "", base_url), alt=post.image.alt)
            if post.image
            else None
        ),
        "event": (
            {
                "start": event.start.isoformat(),
                "end": event.end.isoformat() if event.end else None,
                "location": event.location,
                "online_url": event.online_url,
                "booking_url": event.booking_url,
            }
            if event
            else None
        ),
        **_scholarly(post),
    }
    # Lists may show any field: a list's key is made of the digests of the records it shows.
    record["digest"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return record


def _scholarly(post: Post) -> CitationRecord:
    facts = post.scholarly
    return {
        "cites": citable(post),
        "doi": facts.doi,
        "licence": facts.licence,
        "funder": {"name": facts.funder.name, "award": facts.funder.award}
        if facts.funder
        else None,
        "outputs": [
            OutputRecord(title=o.title, type=o.type, url=o.url, year=o.year, doi=o.doi)
            for o in facts.outputs
        ],
    }
