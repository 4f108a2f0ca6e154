"""Stage 3 of a build: everything under the output folder, written atomically.

Pages and feeds are written by the build's worker processes (the bytes come from the cache), and
a file whose inputs have not changed since the last build into the same folder is left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from . import artefacts, cache, email_web, feeds, ical, output, templating
from .build import BuildReport, Pool, init_worker, published, worker_cache, worker_settings
from .errors import InnovateNewsError
from .posts import KIND_FOLDERS, KIND_TITLES, KINDS
from .settings import Settings

Task = tuple[Callable[..., int], tuple[Any, ...]]
_PAGES_PER_TASK = 500
# Below this much work, forking workers costs more than it saves.
_PARALLEL_THRESHOLD = 400


def write_pages(out: Path, items: Sequence[tuple[str, list[Any], str]]) -> int:
    """Write each post's page or event calendar from the cache (runs in a worker)."""
    store = worker_cache()
    site = worker_settings().site
    for relative, location, part in items:
        data = store.load_part(location, part)
        if part == "ics":
            data = _single_calendar(site["title"], site["timezone"], data)
        output.write_bytes(output.inside(out, relative), data)
    store.close()
    return len(items)


def write_feed(
    out: Path, relative: str, fmt: str, data: feeds.FeedData, locations: Sequence[list[Any]]
) -> int:
    """Stream one feed file from the cached entries (runs in a worker, one task per file).

    Entries go from the cache's packs to the file inside the kernel (sendfile): a site-wide
    feed of every post is tens of megabytes that Python never needs to hold.
    """
    store = worker_cache()
    head, tail = feeds.frame(fmt, data)
    handle_path = output.inside(out, relative)
    with output.atomic(handle_path) as handle:
        handle.write(head)
        handle.flush()
        fd = handle.fileno()
        for index, location in enumerate(locations):
            if fmt == "json":
                output.write_all(fd, feeds.separator(fmt, index), handle_path)
            store.copy_part(location, fmt, fd)
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
        self.current: dict[str, str] = {}
        self.issue_links: list[dict[str, str]] = []

    def _load_manifest(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def unchanged(self, relative: str, key: str) -> bool:
        """Record `relative` as produced from `key`; true when the file on disk already is."""
        self.current[relative] = key
        target = f"{self.out}/{relative}"
        return self.previous.get(relative) == key and os.path.exists(target)  # noqa: PTH110 - hot

    def write_file(self, relative: str, produce: Callable[[], bytes], key: str) -> None:
        if self.unchanged(relative, key):
            return
        output.write_bytes(output.inside(self.out, relative), produce())
        self.report.files_written += 1

    def write_bytes(self, relative: str, data: bytes) -> None:
        self.write_file(relative, lambda: data, cache.key(data, "content"))

    def write(self, metas: dict[str, dict[str, Any]]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        chosen = published(metas, self.now)
        self.report.published = len(chosen)
        # Issues are checked against the posts before anything is written.
        issues = email_web.issue_pages(self.settings, metas.values(), self.now)
        for page in issues:
            self.write_bytes(page.relative, page.data)
        self.issue_links = [page.link for page in issues]
        # The workers write pages and feeds while this process writes the lists and calendar.
        finish = self._start(self._feed_tasks(chosen) + self._page_tasks(chosen))
        self._calendar(chosen)
        self._indexes(chosen)
        self._assets()
        self.report.files_written += finish()
        self._remove_stale()
        output.write_text(self.manifest_path, json.dumps(self.current, sort_keys=True))

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
        return [
            (write_pages, (self.out, todo[start : start + _PAGES_PER_TASK]))
            for start in range(0, len(todo), _PAGES_PER_TASK)
        ]

    def _feed_task(
        self, kind: str | None, keys: list[str], metas: dict[str, dict[str, Any]]
    ) -> list[Task]:
        newest = max(
            (dt.datetime.fromisoformat(metas[key]["updated"]) for key in keys),
            default=self.now,  # an empty feed was last updated now (--now keeps it reproducible)
        )
        data = self._feed_data(kind, newest)
        folder = f"{KIND_FOLDERS[kind]}/" if kind else ""
        digest = hashlib.sha256(repr(sorted(data.items())).encode())
        digest.update("\n".join(keys).encode())
        tasks: list[Task] = []
        for fmt, name in feeds.FORMATS.items():
            if not self.unchanged(folder + name, digest.hexdigest()):
                locations = [metas[key]["_pack"] for key in keys]
                tasks.append((write_feed, (self.out, folder + name, fmt, data[fmt], locations)))
        return tasks

    def _start(self, tasks: list[Task]) -> Callable[[], int]:
        """Hand `tasks` to the workers (or run them here when there is little to do); the
        returned function waits for them and says how many files they wrote."""
        work = sum(len(args[-1]) for _, args in tasks)
        executor = self.pool.executor() if work >= _PARALLEL_THRESHOLD else None
        if executor is None:
            init_worker(self.settings, self.store.folder)
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
        tzid = self.settings.site["timezone"]
        name = self.settings.site["title"]
        upcoming = []
        for key, meta in chosen:
            info = meta["event"]
            if info and dt.datetime.fromisoformat(info["end"] or info["start"]) >= self.now:
                upcoming.append((info["start"], meta["slug"], key, meta["_pack"]))
        upcoming.sort()
        keys = [key for _, _, key, _ in upcoming]
        locations = [location for _, _, _, location in upcoming]

        def produce() -> bytes:
            buffer = io.BytesIO()
            events = (self.store.load_part(location, "ics") for location in locations)
            ical.write_calendar(
                buffer, f"{name}: events", tzid, events, self.settings.site["description"]
            )
            return buffer.getvalue()

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


def _single_calendar(name: str, tzid: str, vevent: bytes) -> bytes:
    buffer = io.BytesIO()
    ical.write_calendar(buffer, name, tzid, [vevent])
    return buffer.getvalue()


def upcoming(metas: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Events that have not ended yet, soonest first."""
    chosen = [
        m
        for m in metas
        if m["event"] and dt.datetime.fromisoformat(m["event"]["end"] or m["event"]["start"]) >= now
    ]
    return sorted(chosen, key=lambda m: m["event"]["start"])
