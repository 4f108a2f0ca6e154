"""Synthetic corpora for the build benchmark: N posts of ~600 words, a third of each kind."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

_SENTENCE = (
    "innovation social care practice young people families safeguarding contextual trauma "
    "informed transitional risk harm exploitation services local authority review survey case "
    "study fieldwork guidance policy stakeholders learning network advisory forum evidence "
    "approach change design delivery outcomes experience support community partnership model"
)
WORDS = _SENTENCE.split(" ")
KINDS = ("finding", "blog", "event")

SETTINGS = """[site]
title = "Benchmark site"
base_url = "https://example.org/bench/"
description = "A synthetic corpus."
author = "Bench team"
feed_items = {feed_items}

[email]
from = "Bench <news@example.org>"
list_id = "news.bench.example.org"
unsubscribe_url = "https://example.org/bench/unsubscribe"
unsubscribe_mailto = "unsubscribe@example.org"
"""


def sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def paragraph(rng: random.Random, words: int) -> str:
    out, used = [], 0
    while used < words:
        n = rng.randint(8, 18)
        out.append(sentence(rng, n))
        used += n
    text = " ".join(out)
    link = f"[{rng.choice(WORDS)} {rng.choice(WORDS)}](https://example.org/{rng.choice(WORDS)})"
    return text.replace(". ", f". See {link}. ", 1)


def body(rng: random.Random) -> tuple[str, str]:
    """Markdown of about 600 words: headings, paragraphs, a list, links; and its first paragraph."""
    first = paragraph(rng, 60)
    parts = [first]
    for section in range(4):
        parts.append(f"## {sentence(rng, 4)[:-1]} {section + 1}")
        parts.append(paragraph(rng, 70))
        parts.append("\n".join(f"- {sentence(rng, 6)}" for _ in range(4)))
        parts.append(paragraph(rng, 40))
    return "\n\n".join(parts) + "\n", first


def make(folder: Path, count: int, seed: int = 7) -> list[dict[str, object]]:
    """Write `count` posts in innovate-news format; return their fields for other formats."""
    rng = random.Random(seed)
    posts_dir = folder / "posts"
    posts_dir.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2015, 1, 1, 9, 0)
    records = []
    for index in range(count):
        kind = KINDS[index % 3]
        date = start + dt.timedelta(hours=7 * index)
        slug = f"post-{index:05d}"
        text, _ = body(rng)
        title = sentence(rng, 6)[:-1]
        front = [
            "---",
            f'title: "{title}"',
            f"date: {date:%Y-%m-%d %H:%M}",
            f"kind: {kind}",
            f"tags: [{rng.choice(WORDS)}, {rng.choice(WORDS)}]",
        ]
        if kind == "event":
            event_start = date + dt.timedelta(days=30)
            front += [
                "event:",
                f"  start: {event_start:%Y-%m-%d %H:%M}",
                f"  end: {event_start + dt.timedelta(hours=2):%Y-%m-%d %H:%M}",
                "  location: Example Hall, Example Town",
            ]
        front.append("---")
        path = posts_dir / f"{date:%Y-%m-%d}-{slug}.md"
        path.write_text("\n".join(front) + "\n\n" + text, encoding="utf-8")
        records.append({"title": title, "date": date, "kind": kind, "slug": slug, "body": text})
    return records


def write_settings(folder: Path, feed_items: int) -> Path:
    path = folder / "innovate-news.toml"
    path.write_text(SETTINGS.format(feed_items=feed_items), encoding="utf-8")
    return path
