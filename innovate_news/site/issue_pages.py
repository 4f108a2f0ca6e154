"""The web version of each published issue ("view in browser") and the issue list on index.html."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from innovate_news import layout, templating
from innovate_news.content import editorial, markdown
from innovate_news.content.issues import Issue, candidates_from_records, choose, load_issues
from innovate_news.content.posts import KIND_LABELS, KIND_TITLES
from innovate_news.email import context as email_context
from innovate_news.settings import Settings


@dataclass(frozen=True)
class IssuePage:
    """One issue's page, ready to write, and its entry in the site's issue list."""

    relative: str
    data: bytes
    link: dict[str, str]


def issue_pages(
    settings: Settings, records: Iterable[Mapping[str, Any]], now: dt.datetime
) -> tuple[list[IssuePage], list[float]]:
    """Pages of every issue dated up to `now`, newest first, and every issue's date (in file
    order, as timestamps); a bad issue raises ContentError."""
    by_slug = {r["slug"]: r for r in records}
    candidates = candidates_from_records(by_slug.values())
    issues = load_issues(settings)
    ended = ended_events(by_slug.values(), now)
    out: list[tuple[Issue, list[str]]] = []
    previous: dt.datetime | None = None
    for issue in issues:
        if issue.published(now):  # an issue still to come may list posts still to come
            out.append((issue, choose(issue, candidates, previous, now)))
        previous = issue.date
    pages = []
    for n, (issue, chosen) in enumerate(out):
        # Previous and next in issue order, among the issues that are out.
        around = (out[n - 1][0] if n else None, out[n + 1][0] if n + 1 < len(out) else None)
        pages.append(_page(settings, issue, [by_slug[slug] for slug in chosen], ended, around))
    return pages[::-1], [issue.date.timestamp() for issue in issues]


def ended_events(records: Iterable[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """Slugs of the events over by `now`, sorted: their cards say so (and this list is in
    the issue pages' key, site.writer)."""
    moment = now.timestamp()
    return sorted(r["slug"] for r in records if r["ends"] is not None and r["ends"] < moment)


def _neighbour(settings: Settings, issue: Issue | None) -> dict[str, str] | None:
    return None if issue is None else {"url": issue.url(settings), "title": issue.subject}


def _page(
    settings: Settings,
    issue: Issue,
    records: list[Mapping[str, Any]],
    ended: list[str],
    around: tuple[Issue | None, Issue | None],
) -> IssuePage:
    url = issue.url(settings)
    html = templating.render(
        settings,
        "site/issue.html",
        site=settings.site,
        base_url=settings.base_url,
        url=url,
        feeds=layout.feed_links(settings.base_url),
        kind_titles=KIND_TITLES,
        kind_labels=KIND_LABELS,
        kind_folders=layout.KIND_FOLDERS,
        issue={
            "subject": issue.subject,
            "preheader": issue.preheader or "",
            "date": issue.date.isoformat(),
            "slug": issue.slug,
        },
        editorial=markdown.render(editorial.for_topics(issue.body, None), url, settings.base_url),
        sections=email_context.sections(records, email_context.TOPICS),
        ended=ended,
        pager={
            "label": "Previous and next issues",
            "previous": _neighbour(settings, around[0]),
            "next": _neighbour(settings, around[1]),
        },
    )
    link = {"url": url, "subject": issue.subject, "date": issue.date.isoformat()}
    return IssuePage(layout.issue_page(issue.slug), html.encode("utf-8"), link)
