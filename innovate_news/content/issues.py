"""Newsletter issues: one markdown file each (subject, date, preheader, posts), and their posts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innovate_news import layout
from innovate_news.content import editorial, frontmatter
from innovate_news.content.posts import Post, parse, slug_problem, sources
from innovate_news.errors import ContentError, Problem
from innovate_news.settings import Settings

FIELDS = {"subject", "date", "preheader", "posts", "send_at"}
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 but tab, DEL, C1
LATEST = "latest"


@dataclass(frozen=True)
class Issue:
    """A validated issue file; `body` (the editorial) is still markdown."""

    path: Path
    slug: str
    subject: str
    date: dt.datetime
    preheader: str | None
    post_slugs: tuple[str, ...] | None  # None: every post since the previous issue
    body: str
    body_line: int = 1
    # Where each listed slug sits in the file, so a bad one is reported on its own line.
    slug_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    send_at: dt.datetime | None = None  # when `send --due` may send it (UTC); None: by hand

    def published(self, now: dt.datetime) -> bool:
        return self.date <= now

    def url(self, settings: Settings) -> str:
        """The web version that `build` writes ("view in browser")."""
        return settings.base_url + layout.issue_folder(self.slug)


@dataclass(frozen=True)
class Candidate:
    """What choosing an issue's posts needs to know about a post (a Post or a build record)."""

    slug: str
    date: dt.datetime
    draft: bool
    path: str


def parse_issue(path: Path, data: bytes, settings: Settings) -> Issue:
    """Validate one issue file; every problem in it is reported together."""
    doc = frontmatter.split(path, data)
    problems: list[Problem] = []
    for key in doc.meta:
        if key not in FIELDS:
            known = ", ".join(sorted(FIELDS))
            problems.append(doc.error(key, f"unknown field {key!r} (known: {known})"))
    if why := slug_problem(path.stem):
        problems.append(Problem(path, 1, f"file name: {why}; rename the file"))
    subject = _single_line(doc, "subject", problems, required=True)
    preheader = _single_line(doc, "preheader", problems, required=False)
    date = _date(doc, settings, problems)
    send_at = _send_at(doc, settings, problems)
    slugs, lines = _post_slugs(doc, problems)
    problems += editorial.problems(path, doc.body, doc.body_line)  # its topic blocks
    if problems:
        raise ContentError(problems)
    assert subject is not None and date is not None  # reported above when missing
    return Issue(
        path=path,
        slug=path.stem,
        subject=subject,
        date=date,
        preheader=preheader,
        post_slugs=slugs,
        body=doc.body,
        body_line=doc.body_line,
        slug_lines=lines,
        send_at=send_at,
    )


def _single_line(
    doc: frontmatter.Document, key: str, problems: list[Problem], required: bool
) -> str | None:
    text = doc.text(key, problems, required, hint=f"; add {key}: ...")
    if text is None:
        return None
    # The subject becomes a header: a line break there could inject headers of its own.
    if any(c in text for c in "\r\n\x00"):
        problems.append(doc.error(key, f"{key} must be one line (no line breaks or NUL)"))
        return None
    # Nor may any other control character (an escape would break the MJML, DEL or a C1 code
    # would go out in the header); a tab is whitespace, tidied to a space below.
    if found := _CONTROL.search(text):
        problems.append(
            doc.error(
                key,
                f"{key} contains the control character U+{ord(found.group()):04X}; remove it "
                "(YAML escapes such as \\e, \\v or \\x7f write one)",
            )
        )
        return None
    return " ".join(text.split())


def _date(
    doc: frontmatter.Document, settings: Settings, problems: list[Problem]
) -> dt.datetime | None:
    value = doc.meta.get("date")
    if value is None:
        problems.append(doc.error(None, "missing required field 'date'; add date: 2023-06-20"))
        return None
    try:
        return frontmatter.to_datetime(value, settings.timezone)
    except ValueError as exc:
        problems.append(doc.error("date", f"date {exc}"))
        return None


def _send_at(
    doc: frontmatter.Document, settings: Settings, problems: list[Problem]
) -> dt.datetime | None:
    """`send_at: 2026-12-01 09:00`, local to [site] timezone, as a UTC instant (see schedule)."""
    value = doc.meta.get("send_at")
    if value is None:
        return None
    hint = "; write it like send_at: 2026-12-01 09:00 (site time zone)"
    if (isinstance(value, dt.date) and not isinstance(value, dt.datetime)) or (
        isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value)
    ):
        problems.append(doc.error("send_at", f"send_at needs a time of day{hint}"))
        return None
    try:
        # A naive time is read with fold=0: the gap moves forward, a repeated hour is the first.
        return frontmatter.to_datetime(value, settings.timezone).astimezone(dt.UTC)
    except ValueError as exc:
        problems.append(doc.error("send_at", f"send_at {exc}{hint}"))
        return None


def _post_slugs(
    doc: frontmatter.Document, problems: list[Problem]
) -> tuple[tuple[str, ...] | None, dict[str, int]]:
    value = doc.meta.get("posts")
    if value is None:
        return None, {}
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        problems.append(doc.error("posts", "posts must be a list of post slugs"))
        return None, {}
    slugs = tuple(s.strip() for s in value)
    lines = {slug: _line_of_item(doc, slug) for slug in slugs}
    seen: set[str] = set()
    for slug in slugs:
        if slug in seen:
            problems.append(Problem(doc.path, lines[slug], f"post {slug!r} is listed twice"))
        seen.add(slug)
    return slugs, lines


def _line_of_item(doc: frontmatter.Document, slug: str) -> int:
    """The line of `- slug` under posts:, or of posts: itself for a flow list."""
    item = re.compile(rf"^\s*-\s*['\"]?{re.escape(slug)}['\"]?\s*(#.*)?$")
    for index, line in enumerate(doc.front_matter.splitlines()):
        if item.match(line):
            return index + 2  # 1-based, after the opening fence
    return doc.line_of("posts")


def not_due(issue: Issue, now: dt.datetime, settings: Settings) -> Problem | None:
    """Why a scheduled issue may not be sent by hand yet, on its send_at line; None if it may."""
    if issue.send_at is None or issue.send_at <= now:
        return None
    local = issue.send_at.astimezone(settings.timezone)
    return Problem(
        issue.path,
        _send_at_line(issue.path),
        f"scheduled for {local:%Y-%m-%d %H:%M %Z} (send_at), not due yet: `innovate-news send "
        "--due` sends it then; add --force to send it now",
    )


def _send_at_line(path: Path) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("send_at:"):
            return number
    return None


def issue_paths(settings: Settings) -> list[Path]:
    folder = settings.folder("issues")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.md") if p.is_file())


def load_issues(settings: Settings) -> list[Issue]:
    """Every issue file, oldest first; all problems in all files are reported together."""
    loaded: list[Issue] = []
    problems: list[Problem] = []
    for path in issue_paths(settings):
        try:
            loaded.append(parse_issue(path, path.read_bytes(), settings))
        except ContentError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ContentError(problems)
    return sorted(loaded, key=lambda issue: (issue.date, issue.slug))


def resolve(settings: Settings, ref: str) -> Issue:
    """An issue by file path, by slug (the file name without .md), or "latest" (by date)."""
    if ref == LATEST:
        issues = load_issues(settings)
        if not issues:
            raise ContentError(f"no issues in {settings.folder('issues')}: write one first")
        return issues[-1]
    path = Path(ref)
    if path.suffix == ".md" or len(path.parts) > 1:
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise ContentError(f"issue file {ref} does not exist")
        return parse_issue(path, path.read_bytes(), settings)
    candidate = settings.folder("issues") / f"{ref}.md"
    if candidate.is_file():
        return parse_issue(candidate, candidate.read_bytes(), settings)
    known = ", ".join(p.stem for p in issue_paths(settings)) or "none yet"
    raise ContentError(
        f"no issue {ref!r} in {settings.folder('issues')}; use a file path, a slug "
        f"(known: {known}) or {LATEST!r}"
    )


def load_posts(settings: Settings) -> list[Post]:
    """Every post, parsed and validated (drafts and future posts included)."""
    problems: list[Problem] = []
    loaded: list[Post] = []
    for path in sources(settings.folder("posts")):
        try:
            loaded.append(
                parse(path, path.read_bytes(), settings.timezone, settings.site["author"])
            )
        except ContentError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ContentError(problems)
    return loaded


def previous_date(settings: Settings, issue: Issue) -> dt.datetime | None:
    """The date of the issue before this one, where a default selection starts."""
    earlier = [
        other.date
        for other in load_issues(settings)
        if other.slug != issue.slug and (other.date, other.slug) < (issue.date, issue.slug)
    ]
    return max(earlier, default=None)


def select_posts(
    settings: Settings, issue: Issue, all_posts: Sequence[Post], now: dt.datetime
) -> list[Post]:
    """The posts an issue carries: its list, or every published post since the previous issue."""
    by_slug = {post.slug: post for post in all_posts}
    candidates = [Candidate(p.slug, p.date, p.draft, str(p.path)) for p in all_posts]
    previous = previous_date(settings, issue) if issue.post_slugs is None else None
    return [by_slug[slug] for slug in choose(issue, candidates, previous, now)]


def choose(
    issue: Issue,
    candidates: Iterable[Candidate],
    previous: dt.datetime | None,
    now: dt.datetime,
) -> list[str]:
    """Slugs in the issue's order; an unknown, draft or future post is an error on its line."""
    by_slug = {c.slug: c for c in candidates}
    if issue.post_slugs is None:
        chosen = [
            c
            for c in by_slug.values()
            if not c.draft
            and c.date <= min(issue.date, now)
            and (previous is None or c.date > previous)
        ]
        chosen.sort(key=lambda c: (c.date, c.slug), reverse=True)
        return [c.slug for c in chosen]
    problems = []
    for slug in issue.post_slugs:
        line = issue.slug_lines.get(slug, 1)
        if (why := _unfit(issue, by_slug.get(slug), slug, now)) is not None:
            problems.append(Problem(issue.path, line, why))
    if problems:
        raise ContentError(problems)
    return list(issue.post_slugs)


def _unfit(issue: Issue, post: Candidate | None, slug: str, now: dt.datetime) -> str | None:
    if post is None:
        return (
            f"no post has slug {slug!r}; a slug is the post's file name without its date "
            "prefix (or its slug: field)"
        )
    if post.draft:
        return f"post {slug!r} ({post.path}) is a draft; publish it or leave it out"
    if post.date > issue.date:
        return (
            f"post {slug!r} ({post.path}) is dated {post.date:%Y-%m-%d %H:%M}, after this "
            f"issue ({issue.date:%Y-%m-%d %H:%M}); leave it for the next issue"
        )
    if post.date > now:
        return (
            f"post {slug!r} ({post.path}) is not published yet (dated "
            f"{post.date:%Y-%m-%d %H:%M}); its link would not work before then"
        )
    return None


def candidates_from_records(records: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Candidates from the build's per-post records (ISO dates, as cached)."""
    return [
        Candidate(r["slug"], dt.datetime.fromisoformat(r["date"]), bool(r["draft"]), r["path"])
        for r in records
    ]
