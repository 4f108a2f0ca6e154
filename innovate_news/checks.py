"""`innovate-news check`: every problem in settings, templates and posts, without writing."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from innovate_news import layout
from innovate_news.content import markdown
from innovate_news.content.issues import Issue, load_issues
from innovate_news.content.posts import Post, check_unique, parse, sources
from innovate_news.errors import (
    ContentError,
    InnovateNewsError,
    Problem,
    ProblemsError,
    TemplateError,
)
from innovate_news.settings import Settings
from innovate_news.templating import check as check_templates


def check_posts(settings: Settings) -> tuple[list[Post], list[Problem]]:
    """Parse every post; collect problems instead of stopping at the first."""
    problems: list[Problem] = []
    loaded: list[Post] = []
    try:
        paths = sources(settings.folder("posts"))
    except ContentError as exc:
        return [], exc.problems
    if not paths:
        folder = settings.folder("posts")
        return [], [Problem(folder, None, "no posts yet: add a markdown file to this folder")]
    for path in paths:
        try:
            loaded.append(
                parse(path, path.read_bytes(), settings.timezone, settings.site["author"])
            )
        except ContentError as exc:
            problems.extend(exc.problems)
    problems.extend(check_unique(loaded))
    return loaded, problems


def check_project(
    settings: Settings,
    now: dt.datetime | None = None,
    sent: Callable[[Issue], bool] | None = None,
) -> list[Problem]:
    """Templates first (a broken one would fail every page), then posts, then unsent issues."""
    from innovate_news.site import artefacts

    problems = check_templates(settings)
    loaded, post_problems = check_posts(settings)
    problems.extend(post_problems)
    if problems:
        return problems
    for post in loaded:
        try:
            artefacts.build(settings, post)
        except TemplateError as exc:
            return problems + exc.problems
        except InnovateNewsError as exc:
            problems.append(Problem(post.path, None, str(exc)))
    if any(p.severity == "error" for p in problems):
        return problems
    from innovate_news.email.checks import check_issues

    now = now or dt.datetime.now(dt.UTC)
    problems += check_links(settings, loaded, now)  # a broken link stops no other check
    return problems + check_issues(settings, loaded, now, sent)


def check_list(settings: Settings, path: Path | None) -> list[Problem]:
    """The subscriber list's bad rows and duplicates; the default list only if it exists."""
    from innovate_news.audience import listtable

    chosen = path or settings.root / settings.email["subscribers"]
    if path is None and not chosen.exists() and not listtable.shared(settings):
        return []
    try:
        listing = listtable.read_list(settings, path)
    except ProblemsError as exc:
        return exc.problems
    return [*listing.problems, *listing.duplicates]


# The site paths of a post's and an issue's page (`posts/slug/`, `posts/slug/index.html`).
_POST_PAGE = re.compile(r"^posts/([^/]+)(?:/|/index\.html)?$")
_ISSUE_PAGE = re.compile(r"^issues/([^/]+)(?:/|/index\.html)?$")
_OWNED = ("posts", "issues")  # every path under these folders is one the build writes


@dataclass(frozen=True)
class _Site:
    """What a link in a post can lead to: posts and issues by slug, and every other path."""

    settings: Settings
    posts: dict[str, Post]
    issues: dict[str, Issue] | None  # None when the issues do not load (reported on their own)
    paths: set[str]  # site-relative, `/`-separated: the build's other pages and static files


def check_links(settings: Settings, posts: Sequence[Post], now: dt.datetime) -> list[Problem]:
    """Links and images in posts that lead to no post, issue, page or file of the site.

    Each is reported at its line in the post's file. A link from a published post to a draft is
    an error (it leads nowhere on the live site); to a post or issue still to come, a warning.
    """
    site = _site(settings, posts)
    problems = []
    for post in posts:
        page = settings.base_url + layout.post_folder(post.slug)
        when = None if post.draft else max(now, post.date)
        for link in markdown.links(post.body):
            if found := _follow(site, link.url, link.image, page, when):
                problems.append(Problem(post.path, post.body_line + link.line - 1, *found))
        if post.image is not None and (found := _follow(site, post.image.src, True, page, when)):
            problems.append(Problem(post.path, _line_of(post.path, post.image.src), *found))
    return problems


def _site(settings: Settings, posts: Sequence[Post]) -> _Site:
    try:
        issues: dict[str, Issue] | None = {i.slug: i for i in load_issues(settings)}
    except ContentError:
        issues = None
    events = [p.slug for p in posts if p.event is not None]
    paths = layout.site_paths([], events, [])
    static = settings.folder("static")
    if static.is_dir():
        paths |= {p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()}
    return _Site(settings, {p.slug: p for p in posts}, issues, paths)


def _follow(
    site: _Site, written: str, image: bool, page: str, when: dt.datetime | None
) -> tuple[str, str] | None:
    """(message, severity) when the link as written leads nowhere the build writes, else None."""
    base_url = site.settings.base_url
    url = markdown.absolute(written, page, base_url)
    if url is None:
        return None  # a scheme the sanitiser drops: no link is left to follow
    what = f"{'image' if image else 'link'} {written!r}"
    path = _site_path(url, base_url)
    if path is None:
        if _leaves_site(written, url, base_url):
            return f"{what} leads out of the site, to {url}{_hint(site, url)}", "error"
        return None
    if match := _POST_PAGE.match(path):
        return _to_post(site, what, match.group(1), when)
    if match := _ISSUE_PAGE.match(path):
        return _to_issue(site, what, match.group(1), when)
    if path in site.paths or not _owned(path):
        return None
    if image:
        missing = site.settings.folder("static") / path
        return f"{what} has no file: {_shown(site.settings, missing)} does not exist", "error"
    return f"{what} leads to {url}, a page the build does not write{_hint(site, url)}", "error"


def _to_post(site: _Site, what: str, slug: str, when: dt.datetime | None) -> tuple[str, str] | None:
    target = site.posts.get(slug)
    if target is None:
        close = difflib.get_close_matches(slug, site.posts, n=1)
        hint = f"; did you mean post:{close[0]}?" if close else ""
        return f"{what}: no post has slug {slug!r}{hint}", "error"
    if when is None:
        return None  # from a draft: its links are held to their targets once it is published
    if target.draft:
        return f"{what} leads to {slug!r}, a draft: it leads nowhere until that is published", (
            "error"
        )
    if target.date > when:
        return f"{what} leads to {slug!r}, which is out only from {target.date:%Y-%m-%d}", (
            "warning"
        )
    return None


def _to_issue(
    site: _Site, what: str, slug: str, when: dt.datetime | None
) -> tuple[str, str] | None:
    if site.issues is None:
        return None
    target = site.issues.get(slug)
    if target is None:
        close = difflib.get_close_matches(slug, site.issues, n=1)
        hint = f"; did you mean issue:{close[0]}?" if close else ""
        return f"{what}: no issue has slug {slug!r}{hint}", "error"
    if when is not None and target.date > when:
        return f"{what} leads to issue {slug!r}, which is out only from {target.date:%Y-%m-%d}", (
            "warning"
        )
    return None


def _site_path(url: str, base_url: str) -> str | None:
    """The path of `url` below base_url (`posts/slug/`), or None for a URL off the site."""
    parts, base = urlsplit(url), urlsplit(base_url)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != base.netloc.lower():
        return None
    if parts.path + "/" == base.path:
        return ""
    if not parts.path.startswith(base.path):
        return None
    return unquote(parts.path[len(base.path) :])


def _leaves_site(written: str, url: str, base_url: str) -> bool:
    """A link written without a host (`../slug/`) that resolves above base_url's folder."""
    if urlsplit(written).scheme or written.startswith("//"):
        return False
    return urlsplit(url).netloc.lower() == urlsplit(base_url).netloc.lower()


def _owned(path: str) -> bool:
    """Whether the build would write `path`: folders and files with an extension, and all of
    posts/ and issues/; a bare name (`networks`) is served by something else on the host."""
    last = path.rpartition("/")[2]
    return path == "" or path.endswith("/") or "." in last or path.split("/")[0] in _OWNED


def _hint(site: _Site, url: str) -> str:
    """How to write the link when its last part is a post's or an issue's slug."""
    name = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    if name in site.posts:
        return f"; to link to that post write post:{name}"
    if site.issues is not None and name in site.issues:
        return f"; to link to that issue write issue:{name}"
    return ""


def _line_of(path: Path, needle: str) -> int | None:
    """The first line of a file that holds `needle` (a front matter value)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((n for n, line in enumerate(lines, start=1) if needle in line), None)


def _shown(settings: Settings, path: Path) -> str:
    """A path as the team knows it: relative to the project's folder when it is inside it."""
    try:
        return path.relative_to(settings.root).as_posix()
    except ValueError:
        return str(path)
