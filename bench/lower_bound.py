"""The lower bound a build cannot beat: parse the markdown, write one RSS and one Atom feed.

Usage: python bench/lower_bound.py CORPUS_FOLDER OUT_FOLDER
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from feedgen.feed import FeedGenerator
from markdown_it import MarkdownIt

ZONE = ZoneInfo("Europe/London")


def main(corpus: Path, out: Path) -> None:
    md = MarkdownIt("commonmark")
    fg = FeedGenerator()
    fg.id("https://example.org/bench/")
    fg.title("Benchmark site")
    fg.description("A synthetic corpus.")
    fg.link(href="https://example.org/bench/", rel="alternate")
    fg.updated(dt.datetime(2030, 1, 1, tzinfo=ZONE))
    for path in sorted((corpus / "posts").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---\n", 2)
        meta = yaml.load(front, Loader=yaml.CSafeLoader)
        entry = fg.add_entry(order="append")
        url = f"https://example.org/bench/posts/{path.stem}/"
        entry.id(url)
        entry.title(meta["title"])
        entry.link(href=url)
        date = meta["date"]
        if isinstance(date, str):
            date = dt.datetime.fromisoformat(date)
        entry.published(date.replace(tzinfo=ZONE))
        entry.content(md.render(body), type="html")
    out.mkdir(parents=True, exist_ok=True)
    fg.rss_file(str(out / "feed.xml"))
    fg.atom_file(str(out / "atom.xml"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
