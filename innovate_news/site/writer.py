"""Stage 3 of a build: everything under the output folder, written atomically.

Pages and feeds are written by the build's worker processes (the bytes come from the cache), and
a file whose inputs have not changed since the last build into the same folder is left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news import layout, output, templating
from innovate_news.content.posts import KIND_TITLES, KINDS
from innovate_news.errors import InnovateNewsError
from innovate_news.settings import Settings
from innovate_news.site import cache, calendar, feeds
from innovate_news.site.report import BuildReport
from innovate_news.site.workers import PARALLEL_THRESHOLD, Pool, worker_cache

if TYPE_CHECKING:
    from concurrent.futures import Future

Chosen = list[tuple[str, dict[str, Any]]]  # (cache key, metadata) of published posts
Task = tuple[Callable[..., int], tuple[Any, ...]]
_PAGES_PER_TASK = 500


def write_pages(
    out: Path, frame: calendar.Frame, items: Sequence[tuple[str, list[Any], str]]
) -> int:
    """Write each post's page or event calendar from the cache (runs in a worker)."""
    store = worker_cache()
    for relative, location, part in items:
        data = store.load_part(location, part)
        if part == "ics":
            data = calendar.document(frame, [data])
        output.write_bytes(output.inside(out, relative), data)
    store.close()
    return len(items)


def write_feed(out: Path, relative: str, frame: tuple[bytes, bytes], runs: list[cache.Run]) -> int:
    """Stream one feed file from the cached entries (runs in a worker, one task per file).

    Entries go from the cache's packs to the file inside the kernel (sendfile): a site-wide
    feed of every post is tens of megabytes that Python never needs to hold.
    """
    store = worker_cache()
    head, tail = frame
    handle_path = output.inside(out, relative)
    with output.atomic(handle_path) as handle:
        handle.write(head)
        handle.flush()
        fd = handle.fileno()
        store.copy_runs(runs, fd)
        output.write_all(fd, tail, handle_path)
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
        self.out = out
        self.store = store
        self.now = now
        self.report = report
        self.pool = pool
        self.manifest_path = (
            settings.folder("state") / "manifests" / (cache.key(str(out).encode(), "m") + ".json")
        )
        self.previous = self._load_manifest()
        self.fingerprint = pool.fingerprint  # of settings and templates, hashed once a build
        # What a feed's or calendar's frame is made from, besides its own fields.
        self.frame_salt = self.fingerprint + cache.installed("feedgen", "icalendar")
        self.current: dict[str, str] = {}
        self.issue_links: list[dict[str, str]] = []
        self._waits: list[Callable[[], int]] = []
        self._listings: dict[str, set[str]] = {}

    def _load_manifest(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def unchanged(self, relative: str, key: str, place: tuple[str, str] | None = None) -> bool:
        """Record `relative` as produced from `key`; true when the file on disk already is.

        `place`, when the caller knows it: the folder whose listing shows the file, and the
        name it shows (see `_place`).
        """
        self.current[relative] = key
        if self.previous.get(relative) != key:
            return False
        folder, name = place or self._place(relative)
        return name in self._listing(folder)

    def _listing(self, folder: str) -> set[str]:
        listing = self._listings.get(folder)
        if listing is None:
            try:
                with os.scandir(f"{self.out}/{folder}") as entries:
                    listing = self._listings[folder] = {entry.name for entry in entries}
            except (FileNotFoundError, NotADirectoryError):
                listing = self._listings[folder] = set()
        return listing

    def _place(self, relative: str) -> tuple[str, str]:
        """Where to see that a file the last build wrote is still there (to write again what
        was removed by hand): a folder and a name in its listing. One listing per folder
        rather than a stat per file, which for 10,000 pages took longer than the rest of a
        warm build's bookkeeping, so a page (`x/slug/index.html`) counts as present while its
        folder is. A deeper file is looked for in its own folder."""
        folder, _, name = relative.rpartition("/")
        if name == "index.html" and folder.count("/") == 1:
            folder, _, name = folder.partition("/")  # a page: its folder, in its kind's listing
        return folder, name

    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None:
        if self.unchanged(relative, key):
            return
        output.write_bytes(output.inside(self.out, relative), produce())
        self.report.files_written += 1

    def write_bytes(self, relative: str, data: bytes) -> None:
        self.write_file(relative, lambda: data, cache.key(data, "content"))

    def start(self, metas: dict[str, dict[str, Any]]) -> None:
        """Hand the feeds and pages to the workers, then write the lists and calendars here.

        The workers may still be writing on return; `finish` waits for them.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        chosen = cache.published(metas, self.now)
        self.report.published = len(chosen)
        # Issues are checked against the posts before anything is written.
        issues = self._issue_pages(metas)
        for page in issues:
            self.write_bytes(page.relative, page.data)
        self.issue_links = [page.link for page in issues]
        # Feeds first: streaming them is the longest part of a warm build.
        groups = by_kind(chosen)
        self._waits.append(self._start(self._feed_tasks(groups), len(chosen)))
        self._waits.append(self._start(self._page_tasks(chosen)))
        self._calendar(chosen)
        self._indexes(groups)
        self._assets()

    def finish(self) -> None:
        """Wait for the workers, remove what is no longer built, record what now is."""
        self.report.files_written += sum(wait() for wait in self._waits)
        self._waits.clear()
        self._remove_stale()
        output.write_text(self.manifest_path, json.dumps(self.current, sort_keys=True))

    def _issue_pages(self, metas: dict[str, dict[str, Any]]) -> list[Any]:
        folder = self.settings.folder("issues")
        if not folder.is_dir() or not any(folder.glob("*.md")):
            return []  # a site without issues never imports the email stack
        from innovate_news.site import issue_pages

        records = [cache.expand(meta) for meta in metas.values()]
        return issue_pages.issue_pages(self.settings, records, self.now)

    def _frame(
        self, what: tuple[Any, ...], make: Callable[[], calendar.Frame], needed: bool = True
    ) -> calendar.Frame:
        """A frame from the cache (made when new); one not `needed` now is kept for later."""
        digest = cache.key(repr(what).encode(), self.frame_salt)
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
        todo = []
        for key, meta in chosen:  # every post of every build: the places are known here
            slug = meta["slug"]
            page = layout.post_page(slug)
            if not self.unchanged(page, key, ("posts", slug)):
                todo.append((page, meta["_pack"], "page"))
            if meta["starts"] is not None:  # an event
                ics = layout.event_calendar(slug)
                if not self.unchanged(ics, key, ("events", f"{slug}.ics")):
                    todo.append((ics, meta["_pack"], "ics"))
        needed = any(part == "ics" for _, _, part in todo)
        frame = self._calendar_frame(self.settings.site["title"], needed=needed)
        return [
            (write_pages, (self.out, frame, todo[start : start + _PAGES_PER_TASK]))
            for start in range(0, len(todo), _PAGES_PER_TASK)
        ]

    def _feed_task(self, kind: str | None, items: Chosen) -> list[Task]:
        newest = self.now  # an empty feed was last updated now (--now keeps it reproducible)
        if items:
            last = cache.expand(max((meta for _, meta in items), key=_updated))
            newest = dt.datetime.fromisoformat(last["updated"])
        data = self._feed_data(kind, newest)
        digest = hashlib.sha256(repr(sorted(data.items())).encode())
        digest.update("\n".join(key for key, _ in items).encode())
        tasks: list[Task] = []
        for fmt in layout.FEED_FILES:
            changed = not self.unchanged(layout.feed(kind, fmt), digest.hexdigest())
            frame = self._frame(
                ("feed", fmt, data[fmt]), functools.partial(feeds.frame, fmt, data[fmt]), changed
            )
            if changed:
                locations = [meta["_pack"] for _, meta in items]
                runs = cache.runs(locations, fmt, lead=feeds.LEAD[fmt])
                tasks.append((write_feed, (self.out, layout.feed(kind, fmt), frame, runs)))
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
            )
            for fmt, name in layout.FEED_FILES.items()
        }

    def _calendar(self, chosen: Chosen) -> None:
        """events.ics: the events that have not ended yet, soonest first."""
        soon = upcoming(chosen, self.now)
        keys = [key for key, _ in soon]
        site = self.settings.site
        name = f"{site['title']}: events"
        self._calendar_frame(name, site["description"], needed=False)

        def produce() -> bytes:
            frame = self._calendar_frame(name, site["description"])
            events = [self.store.load_part(meta["_pack"], "ics") for _, meta in soon]
            return calendar.document(frame, events)

        # The settings are in the key too: they name the calendar even when it has no events.
        key = cache.key("\n".join(keys).encode(), self.fingerprint + layout.CALENDAR)
        self.write_file(layout.CALENDAR, produce, key)

    def _indexes(self, groups: dict[str | None, Chosen]) -> None:
        common = {
            "site": self.settings.site,
            "base_url": self.settings.base_url,
            "kind_titles": KIND_TITLES,
            "kind_folders": layout.KIND_FOLDERS,
        }
        recent, soon = groups[None][:20], upcoming(groups[None], self.now)
        # The home page shows the newest posts, the coming events and the issues: it is
        # rendered again when one of those, the settings or the templates change.
        shown = [key for key, _ in recent] + ["events"] + [key for key, _ in soon]
        self.write_file(
            "index.html",
            lambda: self._page(
                "site/index.html",
                **common,
                root="",
                recent=[cache.expand(meta) for _, meta in recent],
                upcoming=[cache.expand(meta) for _, meta in soon],
                issues=self.issue_links,
                feeds=layout.feed_links(self.settings.base_url),
                url=self.settings.base_url,
            ),
            cache.key(
                "\n".join(shown).encode() + json.dumps(self.issue_links).encode(),
                self.fingerprint + "index.html",
            ),
        )
        # An archive list shows only each post's title, date and kind: it is rendered again
        # when one of those, the settings or the templates change, not on every body edit.
        for kind, items in groups.items():
            relative = layout.list_page(kind)
            listed = "\n".join(meta["listing"] for _, meta in items)
            self.write_file(
                relative,
                self._archive(common, kind, [meta for _, meta in items]),
                cache.key(listed.encode(), self.fingerprint + relative),
            )

    def _archive(
        self, common: dict[str, Any], kind: str | None, items: list[dict[str, Any]]
    ) -> Callable[[], bytes]:
        folder = layout.list_page(kind).removesuffix("index.html")
        return lambda: self._page(
            "site/archive.html",
            **common,
            root="../",
            title=KIND_TITLES[kind] if kind else "All posts",
            posts=[cache.expand(meta) for meta in items],
            feeds=layout.feed_links(self.settings.base_url, kind, KIND_TITLES.get(kind or "", "")),
            url=f"{self.settings.base_url}{folder}",
        )

    def _page(self, template: str, **context: Any) -> bytes:
        return templating.render(self.settings, template, **context).encode("utf-8")

    def _assets(self) -> None:
        for folder in reversed(templating.folders(self.settings)):
            css = folder / "site" / "style.css"
            if css.is_file():
                self.write_bytes("style.css", css.read_bytes())
        static = self.settings.folder("static")
        if static.is_dir():
            for path in sorted(static.rglob("*")):
                if path.is_file():
                    self.write_bytes(path.relative_to(static).as_posix(), path.read_bytes())

    def _remove_stale(self) -> None:
        for relative in sorted(set(self.previous) - set(self.current)):
            with contextlib.suppress(FileNotFoundError, InnovateNewsError):
                target = output.inside(self.out, relative)
                target.unlink()
                self.report.removed += 1
                with contextlib.suppress(OSError):
                    if target.parent != self.out:
                        target.parent.rmdir()  # only succeeds when empty


def _updated(meta: dict[str, Any]) -> float:
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
