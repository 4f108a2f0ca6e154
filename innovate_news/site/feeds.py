"""RSS 2.0, Atom and JSON Feed 1.1 through feedgen, built from per-entry fragments.

Each post's entry is serialised once (in a worker, then cached); a feed is its channel header
from feedgen plus the cached entries streamed in order. That keeps the whole build parallel and
a warm rebuild cheap, and the result is the same XML feedgen would write for the whole feed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]

from innovate_news.templating import escape

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

GENERATOR = "innovate-news"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


@dataclass(frozen=True)
class EntryData:
    """What every feed format needs to know about one post."""

    id: str
    url: str
    title: str
    summary: str
    html: str
    published: dt.datetime
    updated: dt.datetime
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    image_url: str | None = None
    extension: Mapping[str, Any] | None = None  # `_innovate_news` in JSON Feed
    rights: str | None = None  # an SPDX licence id: Atom rights, RSS dc:rights, JSON licence
    doi: str | None = None


@dataclass(frozen=True)
class FeedData:
    """One feed's channel: title, where it lives, and where its web page is."""

    title: str
    description: str
    language: str
    home_url: str
    feed_url: str  # of this format's file
    author: str
    updated: dt.datetime
    hub: str | None = None
    icon: str | None = None
    rights: str | None = None  # the site's licence: Atom rights, RSS copyright


_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_RIGHTS = "{http://purl.org/dc/elements/1.1/}rights"
_IDENTIFIER = "{http://purl.org/dc/elements/1.1/}identifier"


def fragments(data: EntryData) -> dict[str, bytes]:
    """One post's entry in every format, serialised once and cached by the build."""
    return {"rss": rss_item(data), "atom": atom_entry(data), "json": json_item(data)}


def _add(parent: Any, tag: str, text: str | None = None, **attributes: str) -> Any:
    element = etree.SubElement(parent, tag, attributes)
    element.text = text
    return element


# Entries are built with lxml, element for element as feedgen's FeedEntry writes them: the
# documents around them still come from FeedGenerator (see *_frame), but going through
# FeedEntry's setters for each of thousands of posts was a tenth of a build's rendering time.
def rss_item(data: EntryData) -> bytes:
    """The <item> of one post: guid, pubDate, the summary as description, content:encoded."""
    item = etree.Element("item")
    _add(item, "title", data.title)
    _add(item, "link", data.url)
    _add(item, "description", data.summary)
    _add(item, _CONTENT, data.html)
    _add(item, "guid", data.id, isPermaLink="false")
    for tag in data.tags:
        _add(item, "category", tag)
    _add(item, "pubDate", format_datetime(data.published))
    # RSS <author> must be an email address; names go in dc:creator (Atom and JSON carry them).
    for name in data.authors:
        _add(item, _CREATOR, name)
    if data.rights:
        _add(item, _RIGHTS, data.rights)
    if data.doi:
        _add(item, _IDENTIFIER, f"https://doi.org/{data.doi}")
    return _serialise(item)


def atom_entry(data: EntryData) -> bytes:
    """The <entry> of one post, in the feed's default (Atom) namespace."""
    entry = etree.Element("entry")
    _add(entry, "id", data.id)
    _add(entry, "title", data.title)
    _add(entry, "updated", data.updated.isoformat())
    for name in data.authors:
        _add(_add(entry, "author"), "name", name)
    _add(entry, "content", data.html, type="html")
    _add(entry, "link", href=data.url, rel="alternate", type="text/html")
    _add(entry, "summary", data.summary)
    for tag in data.tags:
        _add(entry, "category", term=tag)
    _add(entry, "published", data.published.isoformat())
    if data.rights:
        _add(entry, "rights", data.rights)
    if data.doi:
        _add(entry, "link", href=f"https://doi.org/{data.doi}", rel="related", title="DOI")
    return _serialise(entry)


# A JSON entry is kept with the separator that goes before it in the items array, so a feed's
# entries can be copied back to back; the first entry of a feed is written without its comma.
JSON_FIRST, JSON_SEPARATOR = b"\n    ", b",\n    "
LEAD = {"rss": 0, "atom": 0, "json": len(JSON_SEPARATOR) - len(JSON_FIRST)}


def json_item(data: EntryData) -> bytes:
    """One post's item, led by the separator that goes before it in the items array."""
    item: dict[str, Any] = {
        "id": data.id,
        "url": data.url,
        "title": data.title,
        "content_html": data.html,
        "summary": data.summary,
        "date_published": data.published.isoformat(),
        "date_modified": data.updated.isoformat(),
        "authors": [{"name": name} for name in data.authors],
    }
    if data.tags:
        item["tags"] = list(data.tags)
    if data.image_url:
        item["image"] = data.image_url
    scholarly = {"licence": data.rights, "doi": data.doi}
    extension = dict(data.extension or {}) | {k: v for k, v in scholarly.items() if v}
    if extension:
        item["_innovate_news"] = extension
    # No indent: json's C encoder only runs for compact output, and feed readers don't care.
    return JSON_SEPARATOR + json.dumps(item, ensure_ascii=False).encode()


NAMESPACES = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _serialise(element: Any) -> bytes:
    """An entry as bytes, with the prefixes the feed's root element already declares."""
    root = etree.Element("root", nsmap=NAMESPACES)
    root.append(element)
    data: bytes = etree.tostring(element, encoding="utf-8", pretty_print=True)
    head, newline, rest = data.partition(b">")
    for prefix, uri in NAMESPACES.items():
        head = head.replace(f' xmlns:{prefix}="{uri}"'.encode(), b"")
    return b"  " + head + newline + rest


def _generator(feed: FeedData, self_url: str) -> FeedGenerator:
    # Imported here: the build keeps frames in its cache, so most builds never need feedgen.
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(feed.home_url)
    fg.title(feed.title)
    fg.description(feed.description or feed.title)
    fg.subtitle(feed.description or feed.title)
    fg.language(feed.language)
    fg.author(name=feed.author)
    fg.link(href=self_url, rel="self")
    if feed.hub:
        fg.link(href=feed.hub, rel="hub")
    fg.link(href=feed.home_url, rel="alternate")  # last: feedgen's RSS <link> is the last one
    if feed.icon:
        fg.icon(feed.icon)
    fg.generator(GENERATOR)
    if feed.rights:
        fg.rights(feed.rights)  # Atom <rights>, and <copyright> in RSS
    fg.updated(feed.updated)  # the newest entry's time, so builds are reproducible
    fg.load_extension("dc", atom=False, rss=True)
    return fg


def _split(document: bytes, closing: bytes) -> tuple[bytes, bytes]:
    head, _, tail = document.rpartition(closing)
    return head, closing + tail


def rss_frame(feed: FeedData) -> tuple[bytes, bytes]:
    """The RSS document feedgen writes for the channel, split where the items go."""
    document: bytes = _generator(feed, feed.feed_url).rss_str(pretty=True)
    if feed.hub:  # feedgen writes only rel=self in RSS; WebSub wants the hub beside it
        hub = f'<atom:link href="{escape(feed.hub)}" rel="hub"/>\n    <docs>'.encode()
        document = document.replace(b"<docs>", hub, 1)
    return _split(document, b"</channel>")


def atom_frame(feed: FeedData) -> tuple[bytes, bytes]:
    document: bytes = _generator(feed, feed.feed_url).atom_str(pretty=True)
    return _split(document, b"</feed>")


def json_frame(feed: FeedData) -> tuple[bytes, bytes]:
    """JSON Feed 1.1's top level, split where the items go."""
    top: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.feed_url,
        "description": feed.description,
        "language": feed.language,
        "authors": [{"name": feed.author}],
    }
    if feed.icon:
        top["icon"] = feed.icon
    if feed.hub:
        top["hubs"] = [{"type": "WebSub", "url": feed.hub}]
    if feed.rights:
        top["_innovate_news"] = {"licence": feed.rights}
    header = json.dumps(top, ensure_ascii=False, indent=2)[:-2]  # drop the closing "\n}"
    return header.encode() + b',\n  "items": [', b"\n  ]\n}\n"


_FRAMES = {"rss": rss_frame, "atom": atom_frame, "json": json_frame}


def frame(fmt: str, feed: FeedData) -> tuple[bytes, bytes]:
    """A feed file's head and tail in `fmt`; its entries go between them."""
    return _FRAMES[fmt](feed)
