"""Tag pages: `tags/<slug>/index.html` lists a tag's published posts, newest first, beside the
tag's own feeds (`feed.xml`, `atom.xml`, `feed.json` in the same folder); `tags/index.html`
lists every tag.

Written by `SiteWriter` like the kind lists: a page's key is made of the records it shows; a
tag's feeds are made by the writer's feed task, from the posts' cached entries. A tag no post
has any more is simply not built, and the output's manifest removes its folder's files.
Tags that differ only in case, accents or punctuation share a slug, so one page
(`layout.tag_slug`), named as the newest of its posts spells it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Protocol

from innovate_news import layout
from innovate_news.content.posts import KIND_LABELS
from innovate_news.settings import Settings
from innovate_news.site import feeds, keys, listing
from innovate_news.site.cache import Row

Chosen = list[tuple[str, Row]]  # (cache key, index row) of published posts
Task = tuple[Callable[..., int], tuple[Any, ...]]
FeedTask = Callable[[str | None, Chosen, str | None], list[Task]]  # kind, posts, tag
PAGE_TEMPLATE = "site/tag.html"
INDEX_TEMPLATE = "site/tags.html"


class SiteWriter(Protocol):
    """What tag pages need of site.writer.SiteWriter (which imports this module)."""

    settings: Settings

    def templates_key(self, name: str) -> str: ...
    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None: ...
    def page(self, template: str, **context: Any) -> bytes: ...


def collect(chosen: Chosen) -> dict[str, tuple[str, Chosen]]:
    """Each tag's slug -> (its name, its posts newest first), in slug order."""
    found: dict[str, tuple[str, Chosen]] = {}
    slugs: dict[str, str] = {}  # a few hundred tags over thousands of posts
    for item in chosen:
        seen: set[str] = set()
        for tag in item[1]["tags"]:
            slug = slugs.get(tag) or slugs.setdefault(tag, layout.tag_slug(tag))
            if slug not in seen:  # a post that spells one tag twice is listed once
                seen.add(slug)
                found.setdefault(slug, (tag, []))[1].append(item)
    return dict(sorted(found.items()))


def write(writer: SiteWriter, chosen: Chosen, feed_task: FeedTask) -> list[Task]:
    """Stage the tag pages whose key changed; return the tasks that write the tags' feeds."""
    groups = collect(chosen)
    limit = writer.settings.site["tag_feed_items"]
    tasks: list[Task] = []
    for name, items in groups.values():
        _tag_page(writer, name, items)
        tasks.extend(feed_task(None, items[:limit], name))
    _index(writer, groups)
    return tasks


def feed_links(base_url: str, tag: str) -> list[dict[str, str]]:
    """<link rel="alternate"> targets of a tag's page: the site's feeds, then the tag's."""
    return layout.feed_links(base_url) + [
        {
            "type": kind_type,
            "href": base_url + layout.tag_feed(tag, fmt),
            "title": f"{tag} ({label})",
        }
        for fmt, (kind_type, label) in layout.FEED_TYPES.items()
    ]


def feed_data(
    data: dict[str, feeds.FeedData], tag: str | None, settings: Settings
) -> dict[str, feeds.FeedData]:
    """The site's feed channel data as a tag's (`data` itself when `tag` is None)."""
    if tag is None:
        return data
    base = settings.base_url
    return {
        fmt: dataclasses.replace(
            one,
            title=f"{settings.site['title']}: {tag}",
            home_url=base + layout.tag_folder(tag),
            feed_url=base + layout.tag_feed(tag, fmt),
        )
        for fmt, one in data.items()
    }


def _common(settings: Settings) -> dict[str, Any]:
    return {"site": settings.site, "base_url": settings.base_url, "kind_labels": KIND_LABELS}


def _tag_page(writer: SiteWriter, name: str, items: Chosen) -> None:
    settings = writer.settings
    base = settings.base_url
    relative = layout.tag_page(name)
    listed = "\n".join(meta["digest"] for _, meta in items)

    def produce() -> bytes:
        return writer.page(
            PAGE_TEMPLATE,
            **_common(settings),
            root="../../",
            tag=name,
            posts=[listing.Listing(meta, base) for _, meta in items],
            feeds=feed_links(base, name),
            tag_feeds=follow_groups(base, {name: (name, items)})[0]["feeds"],
            url=layout.folder_url(base, relative),
        )

    key = keys.key(f"{relative}\n{name}\n{listed}".encode(), writer.templates_key(PAGE_TEMPLATE))
    writer.write_file(relative, produce, key)


def _index(writer: SiteWriter, groups: dict[str, tuple[str, Chosen]]) -> None:
    base = writer.settings.base_url
    shown = [
        {"name": name, "url": layout.folder_url(base, layout.tag_page(name)), "count": len(items)}
        for name, items in groups.values()
    ]

    def produce() -> bytes:
        return writer.page(
            INDEX_TEMPLATE,
            **_common(writer.settings),
            root="../",
            tags=shown,
            feeds=layout.feed_links(base),
            url=layout.folder_url(base, layout.TAGS),
        )

    key = keys.key(json.dumps(shown).encode(), writer.templates_key(INDEX_TEMPLATE))
    writer.write_file(layout.TAGS, produce, key)


def follow_groups(base_url: str, tagged: dict[str, tuple[str, Chosen]]) -> list[dict[str, Any]]:
    """Each tag's feeds, for the Follow page (in the groups shape of site.pages)."""
    return [
        {
            "title": f"Tagged {name}",
            "feeds": [
                {"href": base_url + layout.tag_feed(name, fmt), "label": label}
                for fmt, (_, label) in layout.FEED_TYPES.items()
            ],
        }
        for name, _ in tagged.values()
    ]
