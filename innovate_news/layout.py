"""Where every output goes: the site's paths and public URLs, and the outbox's file names.

Paths are relative to the output folder, with `/` separators; a URL is the site's `base_url`
(which ends in `/`) followed by a path. Nothing else in the package spells out an output path,
so moving a page means editing this module alone.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

KIND_FOLDERS = {"finding": "findings", "blog": "blog", "event": "events"}
FEED_FILES = {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json"}
FEED_TYPES = {
    "rss": ("application/rss+xml", "RSS"),
    "atom": ("application/atom+xml", "Atom"),
    "json": ("application/feed+json", "JSON Feed"),
}
HOME = "index.html"
STYLESHEET = "style.css"
CALENDAR = "events.ics"
ARCHIVE = "posts/index.html"
PRIVACY = "privacy/index.html"
FOLLOW = "follow/index.html"
NOT_FOUND = "404.html"
SITEMAP = "sitemap.xml"
ROBOTS = "robots.txt"
PAGES = (PRIVACY, FOLLOW, NOT_FOUND, SITEMAP, ROBOTS)  # one of each per site
OUTPUTS = "outputs/index.html"  # every research output of the site
OUTPUTS_BIB = "outputs/outputs.bib"
# A citable post's citation files, beside its page.
CITATION_FILES = {"bib": "citation.bib", "ris": "citation.ris", "csl": "citation.json"}


def folder_url(base_url: str, relative: str) -> str:
    """The public URL of a page: its folder for an index.html, else the file."""
    return base_url + relative.removesuffix("index.html")


def signup_url(public_url: str | None, unsubscribe_url: str) -> str:
    """The list service's sign-up page: `[serve] public_url`, or the folder of the
    unsubscribe URL (where the same service answers), followed by `subscribe`."""
    url = public_url or unsubscribe_url
    folder = url if url.endswith("/") else url.rpartition("/")[0] + "/"
    return folder + "subscribe"


def post_folder(slug: str) -> str:
    return f"posts/{slug}/"


def post_page(slug: str) -> str:
    return f"{post_folder(slug)}index.html"


def citation_file(slug: str, fmt: str) -> str:
    return post_folder(slug) + CITATION_FILES[fmt]


def issue_folder(slug: str) -> str:
    return f"issues/{slug}/"


def issue_page(slug: str) -> str:
    return f"{issue_folder(slug)}index.html"


TAGS = "tags/index.html"  # the tag index; each tag's page and feeds are under tags/<slug>/
_TAG_UNSAFE = re.compile(r"[^a-z0-9]+")


def tag_slug(tag: str) -> str:
    """A tag's folder name: ASCII letters, digits and hyphens only, so no tag can name a path
    outside tags/ ("../../x" is "x", "a/b" is "a-b"). Tags that differ only in case, accents
    or punctuation share a slug and so a page; a tag with no letter or digit left is named
    by a digest of it."""
    ascii_only = unicodedata.normalize("NFKD", tag).encode("ascii", "ignore").decode()
    slug = _TAG_UNSAFE.sub("-", ascii_only.lower()).strip("-")[:80].strip("-")
    return slug or "tag-" + hashlib.sha256(tag.encode("utf-8")).hexdigest()[:10]


def tag_folder(tag: str) -> str:
    return f"tags/{tag_slug(tag)}/"


def tag_page(tag: str) -> str:
    return f"{tag_folder(tag)}index.html"


def tag_feed(tag: str, fmt: str) -> str:
    return tag_folder(tag) + FEED_FILES[fmt]


def event_calendar(slug: str) -> str:
    return f"events/{slug}.ics"


def section(kind: str | None) -> str:
    """The folder of a kind's list and feeds (`findings/`), or the site's root for all kinds."""
    return f"{KIND_FOLDERS[kind]}/" if kind else ""


def list_page(kind: str | None) -> str:
    """The archive of one kind, or of every post."""
    return f"{section(kind)}index.html" if kind else ARCHIVE


def feed(kind: str | None, fmt: str) -> str:
    return section(kind) + FEED_FILES[fmt]


def feed_links(
    base_url: str, kind: str | None = None, kind_title: str = ""
) -> list[dict[str, str]]:
    """<link rel="alternate"> targets: the site's feeds, then the kind's own."""
    links = [
        {"type": kind_type, "href": base_url + feed(None, fmt), "title": label}
        for fmt, (kind_type, label) in FEED_TYPES.items()
    ]
    if kind:
        links += [
            {"type": t, "href": base_url + feed(kind, fmt), "title": f"{kind_title} ({label})"}
            for fmt, (t, label) in FEED_TYPES.items()
        ]
    return links


def site_paths(post_slugs: list[str], event_slugs: list[str], issue_slugs: list[str]) -> set[str]:
    """Every path a build writes for these posts, events and issues, folders included (a
    server answers `posts/slug/` with its index.html), for checking links into the site."""
    paths = {STYLESHEET, CALENDAR, *PAGES, "privacy/", "follow/"}
    paths |= {"outputs/", OUTPUTS, OUTPUTS_BIB}
    for kind in (None, *KIND_FOLDERS):
        folder = section(kind)
        paths |= {folder, f"{folder}index.html"} | {folder + n for n in FEED_FILES.values()}
    paths |= {"posts/", ARCHIVE}
    paths |= {"tags/", TAGS}  # the tag index (each tag's page depends on every post's tags)
    for slug in post_slugs:
        paths |= {post_folder(slug), post_page(slug)}
    paths |= {event_calendar(slug) for slug in event_slugs}
    for slug in issue_slugs:
        paths |= {issue_folder(slug), issue_page(slug)}
    return paths


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def outbox_file(address: str) -> str:
    """The outbox's file name for `address`: safe everywhere and still says whose copy it is."""
    safe = _UNSAFE.sub("_", address).lstrip(".")
    if safe != address or len(safe) > 120:
        # Two addresses that sanitise alike must not share a file.
        digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:10]
        safe = f"{safe[:100]}-{digest}"
    return f"{safe}.eml"
