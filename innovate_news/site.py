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

from . import artefacts, cache, feeds, ical, output, templating
from .build import BuildReport, Pool, published, worker_cache
from .errors import InnovateNewsError
from .posts import KIND_FOLDERS, KIND_TITLES, KINDS
from .settings import Settings

if TYPE_CHECKING:
    from concurrent.futures import Future

Task = tuple[Callable[..., int], tuple[Any, ...]]
_PAGES_PER_TASK = 500
# Below this much work, forking workers costs more than it saves.
_PARALLEL_THRESHOLD = 400


def write_pages(
    out: Path, calendar: ical.Frame, items: Sequence[tuple[str, list[Any], str]]
) -> int:
    """Write each post's page or event calendar from the cache (runs in a worker)."""
    store = worker_cache()
    for relative, location, part in items:
        data = store.load_part(location, part)
        if part == "ics":
            data = ical.document(calendar, [data])
        output.write_bytes(output.inside(out, relative), data)
    store.close()
    return len(items)


def write_feed(
    out: Path, relative: str, fmt: str, frame: tuple[bytes, bytes], locations: list[list[Any]]
) -> int:
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
        store.copy_parts(locations, fmt, fd, lead=feeds.LEAD[fmt])
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

    def unchanged(self, relative: str, key: str) -> bool:
        """Record `relative` as produced from `key`; true when the file on disk already is."""
        self.current[relative] = key
        return self.previous.get(relative) == key and self._present(relative)

    def _present(self, relative: str) -> bool:
        """Whether a file the last build wrote is still there, to write again what was removed
        by hand. One listing per folder rather than a stat per file, which for 10,000 pages
        took longer than the rest of a warm build's bookkeeping: a page (`x/slug/index.html`)
        counts as present while its folder is."""
        parts = relative.split("/")
        if len(parts) > 2 and relative.endswith("/index.html"):
            parts = parts[:2]
        if len(parts) > 2:
            return os.path.exists(f"{self.out}/{relative}")  # noqa: PTH110 - deep static files
        folder, name = ("", parts[0]) if len(parts) == 1 else parts
        listing = self._listings.get(folder)
        if listing is None:
            try:
                with os.scandir(f"{self.out}/{folder}") as entries:
                    listing = self._listings[folder] = {entry.name for entry in entries}
            except (FileNotFoundError, NotADirectoryError):
                listing = self._listings[folder] = set()
        return name in listing

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
        chosen = published(metas, self.now)
        self.report.published = len(chosen)
        # Issues are checked against the posts before anything is written.
        issues = self._issue_pages(metas)
        for page in issues:
            self.write_bytes(page.relative, page.data)
        self.issue_links = [page.link for page in issues]
        # Feeds first: streaming them is the longest part of a warm build.
        self._waits.append(self._start(self._feed_tasks(chosen)))
        self._waits.append(self._start(self._page_tasks(chosen)))
        self._calendar(chosen)
        self._indexes(chosen)
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
        from . import email_web

        return email_web.issue_pages(self.settings, metas.values(), self.now)

    def _frame(self, what: tuple[Any, ...], make: Callable[[], tuple[bytes, bytes]]) -> ical.Frame:
        return self.store.frame(cache.key(repr(what).encode(), self.frame_salt), make)

    def _calendar_frame(self, name: str, description: str = "") -> ical.Frame:
        tzid = self.settings.site["timezone"]
        return self._frame(
            ("calendar", name, tzid, description), lambda: ical.frame(name, tzid, description)
        )

    def _feed_tasks(self, chosen: list[tuple[str, dict[str, Any]]]) -> list[Task]:
        tasks: list[Task] = []
        limit = self.settings.site["feed_items"]
        groups: dict[str | None, list[str]] = {None: [key for key, _ in chosen[:limit]]}
        by_key = dict(chosen)
        for kind in KINDS:
            groups[kind] = [key for key, meta in chosen if meta["kind"] == kind][:limit]
        for group, keys in groups.items():
            tasks.extend(self._feed_task(group, keys, by_key))
        return tasks

    def _page_tasks(self, chosen: list[tuple[str, dict[str, Any]]]) -> list[Task]:
        """Post pages and per-event calendars whose inputs changed, in batches for the workers."""
        files = []
        for key, meta in chosen:
            files.append((f"posts/{meta['slug']}/index.html", key, meta["_pack"], "page"))
            if meta["event"] is not None:
                files.append((f"events/{meta['slug']}.ics", key, meta["_pack"], "ics"))
        todo = [(rel, loc, part) for rel, key, loc, part in files if not self.unchanged(rel, key)]
        self.report.pages_written = sum(1 for _, _, part in todo if part == "page")
        calendar = (b"", b"")
        if any(part == "ics" for _, _, part in todo):
            calendar = self._calendar_frame(self.settings.site["title"])
        return [
            (write_pages, (self.out, calendar, todo[start : start + _PAGES_PER_TASK]))
            for start in range(0, len(todo), _PAGES_PER_TASK)
        ]

    def _feed_task(
        self, kind: str | None, keys: list[str], metas: dict[str, dict[str, Any]]
    ) -> list[Task]:
        # An empty feed was last updated now (--now keeps it reproducible).
        newest = self.now
        if keys:
            last = max((metas[key] for key in keys), key=_updated)
            newest = dt.datetime.fromisoformat(last["updated"])
        data = self._feed_data(kind, newest)
        folder = f"{KIND_FOLDERS[kind]}/" if kind else ""
        digest = hashlib.sha256(repr(sorted(data.items())).encode())
        digest.update("\n".join(keys).encode())
        tasks: list[Task] = []
        for fmt, name in feeds.FORMATS.items():
            if not self.unchanged(folder + name, digest.hexdigest()):
                locations = [metas[key]["_pack"] for key in keys]
                frame = self._frame(
                    ("feed", fmt, data[fmt]), functools.partial(feeds.frame, fmt, data[fmt])
                )
                tasks.append((write_feed, (self.out, folder + name, fmt, frame, locations)))
        return tasks

    def _start(self, tasks: list[Task]) -> Callable[[], int]:
        """Hand `tasks` to the workers (or run them here when there is little to do); the
        returned function waits for them and says how many files they wrote. Each task's
        last argument is its list of items, which says how much work it is."""
        work = sum(len(args[-1]) for _, args in tasks)
        if not tasks:
            return lambda: 0
        executor = self.pool.executor() if work >= _PARALLEL_THRESHOLD else None
        if executor is None:
            done = sum(function(*args) for function, args in tasks)
            return lambda: done
        futures: list[Future[int]] = [executor.submit(function, *args) for function, args in tasks]
        return lambda: sum(future.result() for future in futures)

    def _feed_data(self, kind: str | None, updated: dt.datetime) -> dict[str, feeds.FeedData]:
        site = self.settings.site
        base = self.settings.base_url
        folder = f"{KIND_FOLDERS[kind]}/" if kind else ""
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
            for fmt, name in feeds.FORMATS.items()
        }

    def _calendar(self, chosen: list[tuple[str, dict[str, Any]]]) -> None:
        """events.ics: the events that have not ended yet, soonest first."""
        now = self.now.timestamp()
        upcoming = [
            (meta["starts"], meta["slug"], key, meta["_pack"])
            for key, meta in chosen
            if meta["ends"] is not None and meta["ends"] >= now
        ]
        upcoming.sort()
        keys = [key for _, _, key, _ in upcoming]

        def produce() -> bytes:
            site = self.settings.site
            calendar = self._calendar_frame(f"{site['title']}: events", site["description"])
            events = [self.store.load_part(location, "ics") for _, _, _, location in upcoming]
            return ical.document(calendar, events)

        self.write_file("events.ics", produce, cache.key("\n".join(keys).encode(), "events"))

    def _indexes(self, chosen: list[tuple[str, dict[str, Any]]]) -> None:
        metas = [meta for _, meta in chosen]
        common = {
            "site": self.settings.site,
            "base_url": self.settings.base_url,
            "kind_titles": KIND_TITLES,
            "kind_folders": KIND_FOLDERS,
        }
        self.write_bytes(
            "index.html",
            self._page(
                "site/index.html",
                **common,
                root="",
                recent=metas[:20],
                upcoming=upcoming(metas, self.now),
                issues=self.issue_links,
                feeds=artefacts.feed_links(self.settings),
                url=self.settings.base_url,
            ),
        )
        # An archive list shows only each post's title, date and kind: it is rendered again
        # when one of those, the settings or the templates change, not on every body edit.
        lists = [("posts/index.html", "All posts", None, metas)] + [
            (f"{KIND_FOLDERS[kind]}/index.html", KIND_TITLES[kind], kind, None) for kind in KINDS
        ]
        for relative, title, kind, chosen_metas in lists:
            items = chosen_metas if kind is None else [m for m in metas if m["kind"] == kind]
            listed = json.dumps(
                [[m["slug"], m["title"], m["date"], m["kind"]] for m in items or []]
            )
            self.write_file(
                relative,
                self._archive(common, title, kind, items or []),
                cache.key(listed.encode(), self.fingerprint + relative),
            )

    def _archive(
        self, common: dict[str, Any], title: str, kind: str | None, items: list[dict[str, Any]]
    ) -> Callable[[], bytes]:
        folder = f"{KIND_FOLDERS[kind]}/" if kind else "posts/"
        return lambda: self._page(
            "site/archive.html",
            **common,
            root="../",
            title=title,
            posts=items,
            feeds=artefacts.feed_links(self.settings, kind),
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


def upcoming(metas: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Events that have not ended yet, soonest first."""
    moment = now.timestamp()
    chosen = [m for m in metas if m["ends"] is not None and m["ends"] >= moment]
    return sorted(chosen, key=lambda m: (m["starts"], m["slug"]))
