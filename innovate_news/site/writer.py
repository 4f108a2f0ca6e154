"""Stage 3 of a build: everything under the output folder, staged, then put in place.

Pages and feeds are written by the build's worker processes (the bytes come from the cache), and
a file whose key is unchanged since the last build, and that is still as that build wrote it,
is left alone. Every key is a digest of what the file is made from (site/keys.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news import layout, output, templating
from innovate_news.content.posts import KIND_LABELS, KIND_TITLES, KINDS
from innovate_news.settings import Settings
from innovate_news.site import cache, calendar, feeds, keys, outputs, postpages, staging, tags
from innovate_news.site import pages as single_pages
from innovate_news.site.cache import Row
from innovate_news.site.listing import Listing
from innovate_news.site.postpages import write_pages
from innovate_news.site.report import BuildReport
from innovate_news.site.staging import Output
from innovate_news.site.workers import PARALLEL_THRESHOLD, Pool, worker_cache

if TYPE_CHECKING:
    from concurrent.futures import Future

Chosen = list[tuple[str, Row]]  # (cache key, index row) of published posts
Task = tuple[Callable[..., int], tuple[Any, ...]]
IssuePage = tuple[str, bytes, dict[str, str]]  # path, bytes, entry in the home page's list
_PAGES_PER_TASK = 500
_LATEST = 6  # posts on the home page


def write_feed(out: Path, relative: str, frame: tuple[bytes, bytes], runs: list[cache.Run]) -> int:
    """Stream one feed file from the cached entries (runs in a worker, one task per file).

    Entries go from the cache's packs to the file inside the kernel (sendfile): a site-wide
    feed of every post is tens of megabytes that Python never needs to hold.
    """
    store = worker_cache()
    head, tail = frame
    fd = staging.create(out, relative)
    try:
        output.write_all(fd, head, out / relative)
        store.copy_runs(runs, fd)
        output.write_all(fd, tail, out / relative)
    finally:
        os.close(fd)
    store.close()
    return 1


class SiteWriter:
    """Decides what to write, hands the heavy parts to the workers, writes the small ones."""

    def __init__(
        self,
        settings: Settings,
        out: Path,
        store: cache.Cache,
        now: dt.datetime,
        report: BuildReport,
        pool: Pool,
    ):
        self.settings = settings
        self.store = store
        self.now = now
        self.report = report
        self.pool = pool
        self.output = Output(
            out,
            settings.folder("state") / "manifests" / (keys.key(str(out).encode(), "m") + ".json"),
        )
        # Settings and code: part of every key; each page adds the templates it can reach.
        self.fingerprint = pool.base
        self.issue_links: list[dict[str, str]] = []
        self._waits: list[Callable[[], int]] = []

    def unchanged(self, relative: str, key: str) -> bool:
        return self.output.unchanged(relative, key)

    def templates_key(self, name: str) -> str:
        return keys.combine(self.fingerprint, keys.templates(self.settings, [name]))

    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None:
        if self.unchanged(relative, key):
            return
        self.output.path(relative, key)
        staging.write(self.output.stage, relative, produce())
        self.report.files_written += 1

    def write_bytes(self, relative: str, data: bytes) -> None:
        self.write_file(relative, lambda: data, keys.key(data, "content"))

    def start(self, metas: dict[str, Row]) -> None:
        """Hand the feeds and pages to the workers, then write the lists and calendars here.

        The workers may still be writing on return; `finish` waits for them.
        """
        chosen = cache.published(metas, self.now)
        self.report.published = len(chosen)
        # Issues are checked against the posts before anything is written.
        issues = self._issue_pages(metas)
        for relative, data, _ in issues:
            self.write_bytes(relative, data)
        self.issue_links = [link for _, _, link in issues]
        # Feeds first: streaming them is the longest part of a warm build.
        groups = by_kind(chosen)
        self._waits.append(self._start(self._feed_tasks(groups), len(chosen)))
        self._waits.append(self._start(self._page_tasks(chosen)))
        self._calendar(chosen)
        self._indexes(groups)
        self._waits.append(self._start(tags.write(self, chosen, self._feed_task), len(chosen)))
        single_pages.write(self, chosen)
        outputs.write(self, chosen)  # outputs/ and outputs.bib
        self._assets()

    def finish(self) -> None:
        """Wait for the workers, then put every file in place and remove what went away."""
        try:
            self.report.files_written += sum(wait() for wait in self._waits)
        except BaseException:
            self.output.abandon()
            raise
        self._waits.clear()
        self.report.removed += self.output.commit()

    def abandon(self) -> None:
        """The build failed: the output stays exactly as it was."""
        for wait in self._waits:
            with contextlib.suppress(Exception):
                wait()
        self._waits.clear()
        self.output.abandon()

    def _issue_pages(self, metas: dict[str, Row]) -> list[IssuePage]:
        """Each published issue's page as (path, bytes, its entry in the home page's list)."""
        folder = self.settings.folder("issues")
        files = sorted(folder.glob("*.md")) if folder.is_dir() else []
        if not files:
            return []  # a site without issues never imports the email stack
        sources = b"".join(bytes(p) + b"\x00" + p.read_bytes() + b"\x00" for p in files)
        source_digest = keys.key(sources, "issues")
        # An issue page is made of the issue files, the posts' records, the templates and
        # which issues are out by now: with the issues' dates known from the last build,
        # the key needs no parsing, and a build with no change renders none.
        posts = "\n".join(sorted(row["digest"] for row in metas.values()))
        over = [m["slug"] for m in metas.values() if (m["ends"] or math.inf) < self.now.timestamp()]
        posts += "\nended:" + " ".join(sorted(over))  # their cards say so
        known = self.store.previous_issues()
        if known is not None and known[0] == source_digest:
            key = self._issue_key(source_digest, posts, known[1])
            if known[2] == key:
                self.store.issues = known
                return [(relative, data, link) for relative, data, link in known[3]]
        from innovate_news.site import issue_pages

        records = [cache.expand(meta) for meta in metas.values()]
        pages, dates = issue_pages.issue_pages(self.settings, records, self.now)
        kept = [(page.relative, page.data, page.link) for page in pages]
        key = self._issue_key(source_digest, posts, dates)
        self.store.issues = (source_digest, dates, key, kept)
        return kept

    def _issue_key(self, sources: str, posts: str, dates: list[float]) -> str:
        out = "".join("1" if date <= self.now.timestamp() else "0" for date in dates)
        return keys.key(
            f"{sources}\n{out}\n{posts}".encode(), self.templates_key("site/issue.html")
        )

    def _frame(
        self, what: tuple[Any, ...], make: Callable[[], calendar.Frame], needed: bool = True
    ) -> calendar.Frame:
        """A frame from the cache (made when new); one not `needed` now is kept for later."""
        digest = keys.key(repr(what).encode(), self.fingerprint)
        return self.store.frame(digest, make if needed else None)

    def _calendar_frame(
        self, name: str, description: str = "", needed: bool = True
    ) -> calendar.Frame:
        tzid = self.settings.site["timezone"]
        return self._frame(
            ("calendar", name, tzid, description),
            lambda: calendar.frame(name, tzid, description),
            needed,
        )

    def _feed_tasks(self, groups: dict[str | None, Chosen]) -> list[Task]:
        limit = self.settings.site["feed_items"]
        tasks: list[Task] = []
        for kind, items in groups.items():
            tasks.extend(self._feed_task(kind, items[:limit]))
        return tasks

    def _page_tasks(self, chosen: Chosen) -> list[Task]:
        """Post pages and per-event calendars whose inputs changed, in batches for the workers."""
        todo: list[postpages.Item] = []
        pager = postpages.Pager(self.settings, chosen, self.templates_key(postpages.TEMPLATE))
        for n, (key, meta) in enumerate(chosen):  # every post of every build
            slug = meta["slug"]
            page, part, page_key = layout.post_page(slug), "page", key
            if meta["ends"] is not None and meta["ends"] < self.now.timestamp():
                part, page_key = "ended", keys.combine(key, "ended")  # a past event's page
            page_key = keys.combine(page_key, pager.key(n))  # and its previous/next links
            if not self.unchanged(page, page_key):
                self.output.path(page, page_key)
                todo.append((page, meta["pack"], part, pager.around(n)))
            event = meta["starts"] is not None
            extra = [(layout.event_calendar(slug), "ics", key)] if event else []
            if meta["cites"]:  # its citation files (site.citations)
                extra += [(layout.citation_file(slug, fmt), fmt, keys.combine(key, fmt))
                          for fmt in layout.CITATION_FILES]  # fmt: skip
            for relative, fmt, file_key in extra:
                if not self.unchanged(relative, file_key):
                    self.output.path(relative, file_key)
                    todo.append((relative, meta["pack"], fmt, (None, None)))
        needed = any(item[2] == "ics" for item in todo)
        frame = self._calendar_frame(self.settings.site["title"], needed=needed)
        return [
            (write_pages, (self.output.stage, frame, todo[start : start + _PAGES_PER_TASK]))
            for start in range(0, len(todo), _PAGES_PER_TASK)
        ]

    def _feed_task(self, kind: str | None, items: Chosen, tag: str | None = None) -> list[Task]:
        newest = self.now  # an empty feed was last updated now (--now keeps it reproducible)
        if items:
            last = cache.expand(max((meta for _, meta in items), key=_updated))
            newest = dt.datetime.fromisoformat(last["updated"])
        data = tags.feed_data(self._feed_data(kind, newest), tag, self.settings)
        digest = hashlib.sha256(repr(sorted(data.items())).encode())
        digest.update("\n".join(key for key, _ in items).encode())
        tasks: list[Task] = []
        for fmt in layout.FEED_FILES:
            relative = layout.feed(kind, fmt) if tag is None else layout.tag_feed(tag, fmt)
            changed = not self.unchanged(relative, digest.hexdigest())
            frame = self._frame(
                ("feed", fmt, data[fmt]), functools.partial(feeds.frame, fmt, data[fmt]), changed
            )
            if changed:
                self.output.path(relative, digest.hexdigest())
                locations = [meta["pack"] for _, meta in items]
                runs = cache.runs(locations, fmt, lead=feeds.LEAD[fmt])
                tasks.append((write_feed, (self.output.stage, relative, frame, runs)))
        return tasks

    def _start(self, tasks: list[Task], work: int | None = None) -> Callable[[], int]:
        """Hand `tasks` to the workers (or run them here when there is little to do); the
        returned function waits for them and says how many files they wrote. `work` is how
        many posts the tasks cover (by default, the length of each one's last argument)."""
        if not tasks:
            return lambda: 0
        if work is None:
            work = sum(len(args[-1]) for _, args in tasks)
        executor = self.pool.executor() if work >= PARALLEL_THRESHOLD else None
        if executor is None:
            done = sum(function(*args) for function, args in tasks)
            return lambda: done
        futures: list[Future[int]] = [executor.submit(function, *args) for function, args in tasks]
        return lambda: sum(future.result() for future in futures)

    def _feed_data(self, kind: str | None, updated: dt.datetime) -> dict[str, feeds.FeedData]:
        site = self.settings.site
        base = self.settings.base_url
        folder = layout.section(kind)
        title = f"{site['title']}: {KIND_TITLES[kind]}" if kind else site["title"]
        return {
            fmt: feeds.FeedData(
                title=title,
                description=site["description"],
                language=site["language"],
                home_url=f"{base}{folder}",
                feed_url=f"{base}{folder}{name}",
                author=site["author"],
                updated=updated,
                hub=site["websub_hub"],
                rights=site.get("licence"),
            )
            for fmt, name in layout.FEED_FILES.items()
        }

    def _calendar(self, chosen: Chosen) -> None:
        """events.ics: the events that have not ended yet, soonest first."""
        soon = upcoming(chosen, self.now)
        events = [key for key, _ in soon]
        site = self.settings.site
        name = f"{site['title']}: events"
        self._calendar_frame(name, site["description"], needed=False)

        def produce() -> bytes:
            frame = self._calendar_frame(name, site["description"])
            events = [self.store.load_part(meta["pack"], "ics") for _, meta in soon]
            return calendar.document(frame, events)

        # The settings are in the key too: they name the calendar even when it has no events.
        key = keys.key("\n".join(events).encode(), self.fingerprint + layout.CALENDAR)
        self.write_file(layout.CALENDAR, produce, key)

    def _indexes(self, groups: dict[str | None, Chosen]) -> None:
        common = {
            "site": self.settings.site,
            "base_url": self.settings.base_url,
            "kind_titles": KIND_TITLES,
            "kind_labels": KIND_LABELS,
            "kind_folders": layout.KIND_FOLDERS,
        }
        recent, soon = groups[None][:_LATEST], upcoming(groups[None], self.now)
        # Which shown events are over follows from `recent` and `soon`, both in the key.
        coming = {meta["slug"] for _, meta in soon}
        ended = [m["slug"] for _, m in recent if m["ends"] is not None and m["slug"] not in coming]
        # The home page shows the newest posts, the coming events and the issues: it is
        # rendered again when one of those, the settings or the templates change.
        shown = [meta["digest"] for _, meta in recent] + ["/"]
        shown += [meta["digest"] for _, meta in soon]
        self.write_file(
            "index.html",
            lambda: self.page(
                "site/index.html",
                **common,
                root="",
                recent=[cache.expand(meta) for _, meta in recent],
                upcoming=[cache.expand(meta) for _, meta in soon],
                ended=ended,
                issues=self.issue_links,
                feeds=layout.feed_links(self.settings.base_url),
                url=self.settings.base_url,
            ),
            keys.key(
                "\n".join(shown).encode() + json.dumps(self.issue_links).encode(),
                self.templates_key("site/index.html"),
            ),
        )
        # A list is given every field of each post's record, so its key is made of the
        # records' digests: any field a template shows is covered, whichever it is.
        for kind, items in groups.items():
            relative = layout.list_page(kind)
            listed = "\n".join(meta["digest"] for _, meta in items)
            self.write_file(
                relative,
                self._archive(common, kind, [meta for _, meta in items]),
                keys.key(f"{relative}\n{listed}".encode(), self.templates_key("site/archive.html")),
            )

    def _archive(
        self, common: dict[str, Any], kind: str | None, items: list[Row]
    ) -> Callable[[], bytes]:
        folder = layout.list_page(kind).removesuffix("index.html")
        return lambda: self.page(
            "site/archive.html",
            **common,
            root="../",
            title=KIND_TITLES[kind] if kind else "All posts",
            posts=[Listing(meta, self.settings.base_url) for meta in items],
            feeds=layout.feed_links(self.settings.base_url, kind, KIND_TITLES.get(kind or "", "")),
            url=f"{self.settings.base_url}{folder}",
        )

    def page(self, template: str, **context: Any) -> bytes:
        return templating.render(self.settings, template, **context).encode("utf-8")

    def _assets(self) -> None:
        for folder in templating.folders(self.settings):  # the site's own stylesheet first
            css = folder / "site" / "style.css"
            if css.is_file():
                self.write_bytes("style.css", css.read_bytes())
                break
        static = self.settings.folder("static")
        if static.is_dir():
            for path in sorted(static.rglob("*")):
                if path.is_file():
                    self.write_bytes(path.relative_to(static).as_posix(), path.read_bytes())


def _updated(meta: Row) -> float:
    return float(meta["updated_ts"])


def by_kind(chosen: Chosen) -> dict[str | None, Chosen]:
    """All published posts (under None), then each kind's, newest first."""
    groups: dict[str | None, Chosen] = {None: chosen, **{kind: [] for kind in KINDS}}
    for item in chosen:
        groups[item[1]["kind"]].append(item)
    return groups


def upcoming(chosen: Chosen, now: dt.datetime) -> Chosen:
    """Events that have not ended yet, soonest first."""
    moment = now.timestamp()
    soon = [item for item in chosen if item[1]["ends"] is not None and item[1]["ends"] >= moment]
    return sorted(soon, key=lambda item: (item[1]["starts"], item[1]["slug"]))
