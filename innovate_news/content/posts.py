"""Posts: one markdown file each (finding, blog or event), validated front matter."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from innovate_news.content import frontmatter, scholarly
from innovate_news.errors import ContentError, Problem

KINDS = ("finding", "blog", "event")
# Where each kind's feeds live, and how sections are titled.
KIND_TITLES = {"finding": "Findings", "blog": "Blog", "event": "Events"}
# One post's label, on its card and page.
KIND_LABELS = {"finding": "Finding", "blog": "Blog post", "event": "Event"}

FIELDS = {
    "title", "date", "kind", "summary", "authors", "tags", "slug", "draft", "image", "event",
    "updated",
} | scholarly.FIELDS  # fmt: skip
EVENT_FIELDS = {"start", "end", "location", "online_url", "booking_url"}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
# Names Windows refuses as files whatever the extension; a slug becomes a folder name.
_RESERVED = (
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)


@dataclass(frozen=True)
class Author:
    name: str
    orcid: str | None = None


@dataclass(frozen=True)
class Image:
    src: str
    alt: str


@dataclass(frozen=True)
class Event:
    start: dt.datetime
    end: dt.datetime | None = None
    location: str | None = None
    online_url: str | None = None
    booking_url: str | None = None


@dataclass(frozen=True)
class Post:
    """A validated post; `body` is still markdown."""

    path: Path
    slug: str
    title: str
    date: dt.datetime
    kind: str
    summary: str | None
    authors: tuple[Author, ...]
    tags: tuple[str, ...]
    draft: bool
    image: Image | None
    event: Event | None
    body: str
    body_line: int = 1
    updated: dt.datetime | None = None
    # DOI, research outputs, licence, funder: what a citation of the post needs.
    scholarly: scholarly.Scholarly = scholarly.NONE

    def published(self, now: dt.datetime) -> bool:
        return not self.draft and self.date <= now


def slug_problem(slug: str) -> str | None:
    """Why a slug is unsafe as a folder name, or None when it is fine."""
    if not SLUG.match(slug):
        return f"slug {slug!r} may only contain a-z, 0-9 and single hyphens"
    if slug in _RESERVED:
        return f"slug {slug!r} is a reserved file name on Windows"
    if len(slug) > 120:
        return f"slug {slug!r} is longer than 120 characters"
    return None


def default_slug(path: Path) -> str:
    return _DATE_PREFIX.sub("", path.stem).lower()


def parse(path: Path, data: bytes, zone: ZoneInfo, default_author: str) -> Post:
    """Validate one post's bytes; every problem in it is reported together."""
    doc = frontmatter.split(path, data)
    problems: list[Problem] = []
    meta = doc.meta
    for key in meta:
        if key not in FIELDS:
            problems.append(doc.unknown(str(key), FIELDS))
    title = _text(doc, "title", problems, required=True)
    kind = meta.get("kind")
    if kind not in KINDS:
        what = "missing" if kind is None else f"{kind!r} is not a kind"
        problems.append(doc.error("kind", f"kind {what}; use one of: {', '.join(KINDS)}"))
    date = _date(doc, "date", zone, problems, required=True)
    updated = _date(doc, "updated", zone, problems, required=False)
    slug = meta.get("slug", default_slug(path))
    if not isinstance(slug, str):
        problems.append(doc.error("slug", "slug must be text"))
        slug = default_slug(path)
    elif why := slug_problem(slug):
        problems.append(doc.error("slug" if "slug" in meta else None, why))
    draft = meta.get("draft", False)
    if not isinstance(draft, bool):
        problems.append(doc.error("draft", "draft must be true or false"))
    post = Post(
        path=path,
        slug=slug,
        title=title or "",
        date=date or dt.datetime(1970, 1, 1, tzinfo=zone),
        kind=str(kind),
        summary=_text(doc, "summary", problems, required=False),
        authors=_authors(doc, problems, default_author),
        tags=_tags(doc, problems),
        draft=bool(draft),
        image=_image(doc, problems),
        event=_event(doc, zone, problems, required=kind == "event"),
        body=doc.body,
        body_line=doc.body_line,
        updated=updated,
        scholarly=scholarly.parse(doc, problems),
    )
    if problems:
        raise ContentError(problems)
    return post


def _text(
    doc: frontmatter.Document, key: str, problems: list[Problem], required: bool
) -> str | None:
    text = doc.text(key, problems, required)
    if text is None:
        return None
    if "\x00" in text:
        problems.append(doc.error(key, f"{key} contains a NUL character"))
        return None
    return " ".join(text.split()) if key == "title" else text


def _date(
    doc: frontmatter.Document,
    key: str,
    zone: ZoneInfo,
    problems: list[Problem],
    required: bool,
) -> dt.datetime | None:
    value = doc.meta.get(key)
    if value is None:
        if required:
            problems.append(doc.error(None, f"missing required field {key!r}"))
        return None
    try:
        return frontmatter.to_datetime(value, zone)
    except ValueError as exc:
        problems.append(doc.error(key, f"{key} {exc}"))
        return None


def _authors(
    doc: frontmatter.Document, problems: list[Problem], default: str
) -> tuple[Author, ...]:
    value = doc.meta.get("authors")
    if value is None:
        return (Author(default),)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        problems.append(doc.error("authors", "authors must be a list of names"))
        return (Author(default),)
    authors = []
    for number, item in enumerate(value, 1):
        if isinstance(item, str) and item.strip():
            authors.append(Author(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            orcid = item.get("orcid")
            if orcid is not None and (why := scholarly.orcid_problem(orcid)):
                line = scholarly.item_line(doc, "authors", number)
                problems.append(Problem(doc.path, line, why))
                orcid = None
            authors.append(Author(item["name"].strip(), orcid))
        else:
            problems.append(
                doc.error("authors", f"author {item!r} must be a name or {{name, orcid}}")
            )
    return tuple(authors)


def _tags(doc: frontmatter.Document, problems: list[Problem]) -> tuple[str, ...]:
    value = doc.meta.get("tags")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        problems.append(doc.error("tags", "tags must be a list of words"))
        return ()
    return tuple(dict.fromkeys(t.strip() for t in value))


def _image(doc: frontmatter.Document, problems: list[Problem]) -> Image | None:
    value = doc.meta.get("image")
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("src"), str):
        problems.append(doc.error("image", "image must be {src, alt}"))
        return None
    alt = value.get("alt")
    if not isinstance(alt, str) or not alt.strip():
        problems.append(doc.error("image", "image needs alt text describing it for screen readers"))
        return None
    return Image(value["src"].strip(), alt.strip())


def _event(
    doc: frontmatter.Document, zone: ZoneInfo, problems: list[Problem], required: bool
) -> Event | None:
    value = doc.meta.get("event")
    if value is None:
        if required:
            problems.append(doc.error(None, "an event needs event: {start: ...}"))
        return None
    if not isinstance(value, dict):
        problems.append(doc.error("event", "event must be a mapping {start, end, location, ...}"))
        return None
    for key in value:
        if key not in EVENT_FIELDS:
            problems.append(doc.unknown(str(key), EVENT_FIELDS, prefix="event."))
    if value.get("start") is None:
        problems.append(doc.error("event", "event.start is required (a date and time)"))
        return None
    try:
        start = frontmatter.to_datetime(value["start"], zone)
    except ValueError as exc:
        problems.append(doc.error("event.start", f"event.start {exc}"))
        return None
    end = None
    if value.get("end"):
        try:
            end = frontmatter.to_datetime(value["end"], zone)
        except ValueError as exc:
            problems.append(doc.error("event.end", f"event.end {exc}"))
    if end is not None and end < start:
        problems.append(doc.error("event.end", "event.end is before event.start"))
    links = {}
    for key in ("online_url", "booking_url"):
        url = value.get(key)
        if url is not None and not (isinstance(url, str) and re.match(r"^https?://\S+$", url)):
            problems.append(doc.error(f"event.{key}", f"event.{key} must be an http(s) URL"))
            url = None
        links[key] = url
    location = value.get("location")
    if location is not None and not isinstance(location, str):
        problems.append(doc.error("event.location", "event.location must be text"))
        location = None
    return Event(start, end, location, links["online_url"], links["booking_url"])


def check_unique(posts: Iterable[Post]) -> list[Problem]:
    """Two posts with one slug would overwrite each other's page: name both files."""
    seen: dict[str, Post] = {}
    problems = []
    for post in posts:
        other = seen.setdefault(post.slug, post)
        if other is not post:
            problems.append(
                Problem(
                    post.path,
                    1,
                    f"slug {post.slug!r} is also used by {other.path}; give one a different slug",
                )
            )
    return problems


def sources(folder: Path) -> list[Path]:
    """Every post file, in a stable order."""
    if not folder.is_dir():
        raise ContentError(f"posts folder {folder} does not exist; create it and add a post")
    # scandir's entries know their type without a stat each; thousands of posts add up.
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.name.endswith(".md") and e.is_file())
    return [folder / name for name in names]
