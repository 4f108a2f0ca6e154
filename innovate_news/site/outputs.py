"""`outputs/`: every research output of the site on one page, with the whole site's
`outputs.bib`. (The citation files beside each citable post's page are cached with the page
and written with it by the workers: SiteWriter._page_tasks.)

Both files are keyed by what they are made of, like the lists: the records of the posts that
list outputs, the settings, the code and (for the page) its templates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from innovate_news import layout
from innovate_news.content.record import PostRecord
from innovate_news.settings import Settings
from innovate_news.site import bibformats, cache, citation, keys
from innovate_news.site.cache import Row

Chosen = list[tuple[str, Row]]  # (cache key, index row) of published posts
TEMPLATE = "site/outputs.html"


class SiteWriter(Protocol):
    """What this module needs of site.writer.SiteWriter (which imports it)."""

    settings: Settings
    store: cache.Cache
    fingerprint: str

    def templates_key(self, name: str) -> str: ...
    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None: ...
    def page(self, template: str, **context: Any) -> bytes: ...


def write(writer: SiteWriter, chosen: Chosen) -> None:
    """Stage the outputs page and outputs.bib if their key changed."""
    # The page and outputs.bib are made of the posts that list outputs (a few, where every
    # finding is citable).
    listing = [meta for _, meta in chosen if meta["cites"] and meta["outputs"]]
    digests = "\n".join(meta["digest"] for meta in listing).encode()
    writer.write_file(
        layout.OUTPUTS,
        lambda: _page(writer, [cache.expand(meta) for meta in listing]),
        keys.key(digests, writer.templates_key(TEMPLATE)),
    )
    writer.write_file(
        layout.OUTPUTS_BIB,
        lambda: bibformats.bibtex(_items(writer.settings, [cache.expand(m) for m in listing])),
        keys.key(digests, writer.fingerprint + layout.OUTPUTS_BIB),
    )


def _items(settings: Settings, records: list[PostRecord]) -> list[citation.CSL]:
    """Every output of every citable post (newest post first), as CSL-JSON items."""
    return [
        citation.output_item(settings, record, number)
        for record in records
        for number in range(1, len(record["outputs"]) + 1)
    ]


def _page(writer: SiteWriter, records: list[PostRecord]) -> bytes:
    settings = writer.settings
    found = _items(settings, records)
    references = iter(citation.apa(found))
    entries = [
        {"post": record, "output": output, "reference": next(references)}
        for record in records
        for output in record["outputs"]
    ]
    base = settings.base_url
    return writer.page(
        TEMPLATE,
        site=settings.site,
        base_url=base,
        root="../",
        url=layout.folder_url(base, layout.OUTPUTS),
        feeds=layout.feed_links(base),
        entries=entries,
        bib_url="outputs.bib",
    )
