"""The site's one-of-a-kind pages: privacy notice, Follow, 404, sitemap.xml and robots.txt.

Each is small and written by `SiteWriter` like the lists: keyed by what it is made of (the
settings and code in the writer's fingerprint, the templates it reaches, and for the sitemap
the URLs it lists).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from xml.sax.saxutils import escape

from innovate_news import layout
from innovate_news.content.posts import KIND_TITLES
from innovate_news.settings import Settings
from innovate_news.site import keys, tags
from innovate_news.site.cache import Row

Chosen = list[tuple[str, Row]]  # (cache key, index row) of published posts


class SiteWriter(Protocol):
    """What these pages need of site.writer.SiteWriter (which imports this module)."""

    settings: Settings
    issue_links: list[dict[str, str]]

    def templates_key(self, name: str) -> str: ...
    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None: ...
    def write_bytes(self, relative: str, data: bytes) -> None: ...
    def page(self, template: str, **context: Any) -> bytes: ...


Render = Callable[..., bytes]  # (template name, **context) -> page bytes


def follow_groups(base_url: str) -> list[dict[str, Any]]:
    """Every feed the site offers: the whole site's, then each kind's, in three formats."""
    groups = []
    for kind in (None, *layout.KIND_FOLDERS):
        title = f"{KIND_TITLES[kind]} only" if kind else "Everything"
        feeds = [
            {"href": base_url + layout.feed(kind, fmt), "label": label}
            for fmt, (_, label) in layout.FEED_TYPES.items()
        ]
        groups.append({"title": title, "feeds": feeds})
    return groups


def html_pages(base_url: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Path -> (template, context) of each one-of-a-kind HTML page."""
    return {
        layout.PRIVACY: ("site/privacy.html", {"root": "../"}),
        layout.FOLLOW: (
            "site/follow.html",
            {
                "root": "../",
                "groups": follow_groups(base_url),
                "calendar_url": base_url + layout.CALENDAR,
            },
        ),
        # Served for any missing path, so its links and stylesheet are absolute.
        layout.NOT_FOUND: ("site/404.html", {"robots": "noindex"}),
    }


def sitemap(urls: Iterable[tuple[str, str | None]]) -> bytes:
    """sitemap.xml (sitemaps.org 0.9) of (URL, last modified as ISO 8601 or None)."""
    rows = ['<?xml version="1.0" encoding="UTF-8"?>']
    rows.append('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    for url, modified in urls:
        last = f"<lastmod>{escape(modified)}</lastmod>" if modified else ""
        rows.append(f"<url><loc>{escape(url)}</loc>{last}</url>")
    rows.append("</urlset>\n")
    return "\n".join(rows).encode("utf-8")


def robots(base_url: str) -> bytes:
    """robots.txt: everything may be crawled; the sitemap is named in full."""
    return f"User-agent: *\nAllow: /\nSitemap: {base_url}{layout.SITEMAP}\n".encode()


def write(writer: SiteWriter, chosen: Chosen) -> None:
    """Stage the one-of-a-kind pages whose key changed."""
    settings = writer.settings
    base = settings.base_url
    found = html_pages(base)
    tagged = tags.collect(chosen)  # each tag's feeds are on the Follow page (site.tags)
    found[layout.FOLLOW][1]["tag_groups"] = tags.follow_groups(base, tagged)
    for relative, (template, extra) in found.items():
        context = {
            "site": settings.site,
            "base_url": base,
            "url": layout.folder_url(base, relative),
            "feeds": layout.feed_links(base),
            **extra,
        }
        shown = json.dumps(extra.get("tag_groups")).encode()
        key = keys.key(relative.encode() + shown, writer.templates_key(template))
        writer.write_file(relative, _produce(writer, template, context), key)
    urls = _urls(base, chosen, writer.issue_links)
    urls += [(layout.folder_url(base, layout.TAGS), None)]
    urls += [(layout.folder_url(base, layout.tag_page(name)), None) for name, _ in tagged.values()]
    writer.write_bytes(layout.SITEMAP, sitemap(urls))
    writer.write_bytes(layout.ROBOTS, robots(base))


def _produce(writer: SiteWriter, template: str, context: dict[str, Any]) -> Callable[[], bytes]:
    return lambda: writer.page(template, **context)


def _urls(base: str, chosen: Chosen, issues: list[dict[str, str]]) -> list[tuple[str, str | None]]:
    urls: list[tuple[str, str | None]] = [(base, None), (base + "posts/", None)]
    urls += [(base + layout.section(kind), None) for kind in layout.KIND_FOLDERS]
    urls += [(layout.folder_url(base, p), None) for p in (layout.PRIVACY, layout.FOLLOW)]
    for _, meta in chosen:
        urls.append((layout.folder_url(base, layout.post_page(meta["slug"])), None))
    urls += [(issue["url"], issue["date"][:10]) for issue in issues]
    return urls
