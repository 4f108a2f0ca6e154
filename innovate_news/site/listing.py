"""A post as a list page shows it (site.writer's archives, site.tags): the index row, and the
whole record only if a template asks for more."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from innovate_news import layout
from innovate_news.content.record import PostRecord
from innovate_news.site import cache
from innovate_news.site.cache import Row


class Listing(Mapping[str, Any]):
    """A post as a list page (the archives, tag pages) shows it: its row's fields and its URL at
    once; any other field of its record opens the record, on first use. The default templates
    show only the date, kind, URL and title, so listing 10,000 posts opens none of them."""

    __slots__ = ("_base", "_record", "_row")

    def __init__(self, row: Row, base_url: str):
        self._row = row
        self._base = base_url
        self._record: PostRecord | None = None

    def __getitem__(self, name: str) -> Any:
        if name == "url":
            return self._base + layout.post_folder(self._row["slug"])
        if name in cache.ROW_FIELDS:
            return self._row[name]  # type: ignore[literal-required]
        return self._whole()[name]  # type: ignore[literal-required]

    def __getattr__(self, name: str) -> Any:
        # Templates write `p.title`: jinja2 tries the attribute first, and a miss raises an
        # AttributeError before it tries the item (a third of a list page's time).
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _whole(self) -> PostRecord:
        if self._record is None:
            self._record = cache.expand(self._row)
        return self._record

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())
