"""Post pages as written: the cached page with its previous/next links put in.

A post's page is rendered once, from that post alone, and cached (site.artefacts); its links to
the posts before and after it depend on its neighbours. So the cached page holds `SLOT` where
the links go, and the writer puts them in when it writes the page. The page's key adds exactly
what the links are made of (the neighbours' slugs and titles and the pager template): editing
one post's title writes that post's page and its two neighbours' again, no other.

Posts are in the order of the site's archive: every published post, of every kind, by date.
"Previous" is the older post, "next" the newer one.
"""

from __future__ import annotations

from pathlib import Path

from innovate_news import layout, templating
from innovate_news.settings import Settings
from innovate_news.site import calendar, staging
from innovate_news.site.cache import Location, Row
from innovate_news.site.workers import worker_cache, worker_settings

SLOT = "<!--innovate-news:pager-->"  # written in post.html where the previous/next links go
TEMPLATE = "site/_pager.html"
LABEL = "Previous and next posts"
PAGES = ("page", "ended")  # the parts that are pages; the others are written as they are
Link = tuple[str, str] | None  # a neighbour's URL and title
Item = tuple[str, Location, str, tuple[Link, Link]]  # path, pack, part, (previous, next)


def write_pages(out: Path, frame: calendar.Frame, items: list[Item]) -> int:
    """Write each post's page, event calendar or citation files from the cache (runs in a
    worker, which also renders the previous/next links: ten thousand renders kept off the
    main process)."""
    store = worker_cache()
    settings = worker_settings()
    for relative, location, part, around in items:
        data = store.load_part(location, part)
        if part == "ics":
            data = calendar.document(frame, [data])
        elif part in PAGES:
            data = splice(data, links(settings, around))
        staging.write(out, relative, data)
    store.close()
    return len(items)


def links(settings: Settings, around: tuple[Link, Link]) -> bytes:
    """The previous/next links of a post whose older and newer neighbours are `around`."""
    older, newer = ({"url": n[0], "title": n[1]} if n else None for n in around)
    pager = {"label": LABEL, "previous": older, "next": newer}
    return templating.render(settings, TEMPLATE, pager=pager).encode("utf-8")


def splice(page: bytes, links: bytes) -> bytes:
    """The page with `links` in its slot (the last one: a post's own text cannot hold one, as
    the markdown's HTML comments are removed, but it comes before the slot in any case)."""
    head, found, tail = page.rpartition(SLOT.encode())
    return head + links + tail if found else page


class Pager:
    """The previous/next links of each post in `chosen` (published posts, newest first)."""

    def __init__(self, settings: Settings, chosen: list[tuple[str, Row]], templates: str):
        self.settings = settings
        self.chosen = chosen
        self.templates = templates  # the writer's fingerprint and the pager template's digest

    def _around(self, n: int) -> tuple[Row | None, Row | None]:
        older = self.chosen[n + 1][1] if n + 1 < len(self.chosen) else None
        newer = self.chosen[n - 1][1] if n > 0 else None
        return older, newer

    def key(self, n: int) -> str:
        """What the links of the `n`th post are made of, for its page's key to hash (once:
        this runs for every post of every build)."""
        older, newer = self._around(n)
        around = [f"{row['slug']}\x00{row['title']}" if row else "" for row in (older, newer)]
        return "\x00".join([self.templates, *around])

    def around(self, n: int) -> tuple[Link, Link]:
        """The `n`th post's older and newer neighbours, for `links`."""
        older, newer = self._around(n)
        return self._link(older), self._link(newer)

    def _link(self, row: Row | None) -> Link:
        if row is None:
            return None
        url = layout.folder_url(self.settings.base_url, layout.post_page(row["slug"]))
        return url, row["title"]
