"""List pages show posts from the cache index's rows, opening a post's whole record only when a
template asks for a field the row does not hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from innovate_news import settings as settings_module
from innovate_news.content.record import post_url
from innovate_news.site import build as build_module
from innovate_news.site import cache
from innovate_news.site.listing import Listing
from tests.support import NOW, REPO

BASE = "https://example.org/innovate/"


def _record() -> dict[str, Any]:
    return {
        "slug": "a-post", "kind": "blog", "path": "posts/a.md", "draft": False, "ts": 1.0,
        "updated_ts": 1.0, "starts": None, "ends": None, "digest": "d", "cites": False,
        "title": "A post", "tags": ["x"], "outputs": [], "date": "2024-05-01T00:00:00+01:00",
        "summary": "What it says.", "url": post_url(BASE, "a-post"),
    }  # fmt: skip


def test_a_listing_answers_from_the_row_and_opens_the_record_for_the_rest() -> None:
    record = _record()
    row = cache.compact(record, ("pack", 0, 0, 0))  # type: ignore[arg-type]
    shown = Listing(row, BASE)
    assert shown["url"] == record["url"]
    assert (shown["title"], shown["date"], shown["kind"]) == ("A post", record["date"], "blog")
    assert shown._record is None  # nothing opened yet
    assert shown["summary"] == "What it says."
    assert dict(shown) == record


def test_an_archive_template_may_show_any_field(project: Path) -> None:
    """A site's own archive template that shows each post's summary still gets it."""
    own = project / "my-templates" / "site"
    own.mkdir(parents=True)
    source = (REPO / "templates" / "site" / "archive.html").read_text(encoding="utf-8")
    marked = source.replace("{{ p.title }}</a>", "{{ p.title }}</a> <q>{{ p.summary }}</q>")
    assert marked != source
    (own / "archive.html").write_text(marked, encoding="utf-8")
    settings_path = project / "innovate-news.toml"
    with settings_path.open("a", encoding="utf-8") as out:
        out.write('\n[paths]\ntemplates = "my-templates"\n')
    settings = settings_module.load(settings_path)
    build_module.build(settings, now=NOW, jobs=1)
    page = (project / "site" / "posts" / "index.html").read_text(encoding="utf-8")
    assert "<q>Alongside the three reviews" in page


def test_a_listing_gives_fields_as_attributes_too() -> None:
    shown = Listing(cache.compact(_record(), ("pack", 0, 0, 0)), BASE)  # type: ignore[arg-type]
    assert (shown.title, shown.url, shown.summary) == ("A post", _record()["url"], "What it says.")
    with pytest.raises(AttributeError):
        shown.nothing  # noqa: B018 - the lookup is the test
