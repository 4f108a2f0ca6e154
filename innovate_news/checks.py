"""`innovate-news check`: every problem in settings, templates and posts, without writing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from innovate_news.content.issues import Issue
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

    return problems + check_issues(settings, loaded, now or dt.datetime.now(dt.UTC), sent)


def check_list(settings: Settings, path: Path | None) -> list[Problem]:
    """The subscriber list's bad rows and duplicates; the default list only if it exists."""
    from innovate_news.audience.subscribers import read

    chosen = path or settings.root / settings.email["subscribers"]
    if path is None and not chosen.exists():
        return []
    try:
        listing = read(chosen)
    except ProblemsError as exc:
        return exc.problems
    return [*listing.problems, *listing.duplicates]
