"""`innovate-news build`: read and check every post, then write the site in one pass.

Stage 1 renders each changed post in worker processes into the cache (the state folder, never
the output). Stage 2 checks what needs all posts at once (unique slugs). Only then does stage 3
touch the output folder: pages, feeds, calendars and indexes, each file written atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import artefacts, cache, feeds, ical, output, posts, templating
from .errors import ContentError, InnovateNewsError, Problem
from .posts import KIND_FOLDERS, KIND_TITLES, KINDS
from .settings import Settings

_CHUNK = 64


@dataclass
class BuildReport:
    """What a build did, for the CLI to print."""

    out: Path
    posts: int = 0
    published: int = 0
    rendered: int = 0
    pages_written: int = 0
    files_written: int = 0
    removed: int = 0
    seconds: float = 0.0
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    path: Path
    key: str


# Worker state, set once per process by _init_worker (forked or spawned alike).
_WORKER: dict[str, Any] = {}


def _init_worker(settings: Settings, cache_folder: Path) -> None:
    _WORKER["settings"] = settings
    _WORKER["cache"] = cache.Cache(cache_folder)


def _render_chunk(chunk: Sequence[Source]) -> list[tuple[str, Any]]:
    """Parse, render and cache each post; return its metadata or its problems."""
    settings: Settings = _WORKER["settings"]
    store: cache.Cache = _WORKER["cache"]
    results: list[tuple[str, Any]] = []
    for source in chunk:
        try:
            post = posts.parse(
                source.path,
                source.path.read_bytes(),
                settings.timezone,
                settings.site["author"],
            )
            built = artefacts.build(settings, post)
        except ContentError as exc:
            results.append(("problems", exc.problems))
            continue
        store.store(source.key, built)
        results.append(("ok", (source.key, built.meta)))
    return results


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build(
    settings: Settings,
    out: Path | None = None,
    now: dt.datetime | None = None,
    jobs: int | None = None,
) -> BuildReport:
    started = time.perf_counter()
    now = now or now_utc()
    out = (out or settings.folder("output")).resolve()
    report = BuildReport(out=out)
    store = cache.Cache(settings.folder("state") / "cache")
    sources = _sources(settings)
    report.posts = len(sources)
    metas = _render(settings, store, sources, jobs, report)
    _check_metas(metas)
    site = SiteWriter(settings, out, store, now, report)
    site.write(metas)
    store.save_index({s.key: metas[s.key] for s in sources})
    report.seconds = time.perf_counter() - started
    return report


def _sources(settings: Settings) -> list[Source]:
    folder = settings.folder("posts")
    paths = posts.sources(folder)
    if not paths:
        raise ContentError(
            f"no posts in {folder}: add a markdown file such as "
            f"{folder}/2021-03-04-first-post.md with title, date and kind in its front matter"
        )
    fingerprint = cache.fingerprint(settings.fingerprint, templating.digest(settings))
    return [Source(p, cache.key(p.read_bytes(), fingerprint)) for p in paths]


def _render(
    settings: Settings,
    store: cache.Cache,
    sources: list[Source],
    jobs: int | None,
    report: BuildReport,
) -> dict[str, dict[str, Any]]:
    metas: dict[str, dict[str, Any]] = {}
    misses: list[Source] = []
    for source in sources:
        meta = store.meta(source.key)
        if meta is None:
            misses.append(source)
        else:
            metas[source.key] = meta
    report.rendered = len(misses)
    problems: list[Problem] = []
    for kind, value in _run_workers(settings, store, misses, jobs):
        if kind == "ok":
            metas[value[0]] = value[1]
        else:
            problems.extend(value)
    if problems:
        raise ContentError(problems)
    return metas


def _run_workers(
    settings: Settings, store: cache.Cache, misses: list[Source], jobs: int | None
) -> Iterator[tuple[str, Any]]:
    chunks = [misses[i : i + _CHUNK] for i in range(0, len(misses), _CHUNK)]
    workers = jobs or os.cpu_count() or 1
    if workers == 1 or len(misses) <= _CHUNK:
        _init_worker(settings, store.folder)
        for chunk in chunks:
            yield from _render_chunk(chunk)
        return
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(settings, store.folder)
    ) as pool:
        for results in pool.map(_render_chunk, chunks):
            yield from results


def _check_metas(metas: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    problems = []
    for meta in sorted(metas.values(), key=lambda m: m["path"]):
        other = seen.setdefault(meta["slug"], meta["path"])
        if other != meta["path"]:
            problems.append(
                Problem(
                    meta["path"],
                    1,
                    f"slug {meta['slug']!r} is also used by {other}; give one a different slug",
                )
            )
    if problems:
        raise ContentError(problems)


def published(metas: dict[str, dict[str, Any]], now: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
    """Published posts, newest first (ties broken by slug so the order never wobbles)."""
    chosen = [
        (key, meta)
        for key, meta in metas.items()
        if not meta["draft"] and dt.datetime.fromisoformat(meta["date"]) <= now
    ]
    chosen.sort(key=lambda item: (dt.datetime.fromisoformat(item[1]["date"]), item[1]["slug"]))
    chosen.reverse()
    return chosen


class SiteWriter:
    """Stage 3: everything under the output folder."""

    def __init__(
        self,
        settings: Settings,
        out: Path,
        store: cache.Cache,
        now: dt.datetime,
        report: BuildReport,
    ):
        self.settings = settings
        self.out = out
        self.store = store
        self.now = now
        self.report = report
        self.manifest_path = settings.folder("state") / "manifests" / (
            cache.key(str(out).encode(), "manifest") + ".json"
        )
        self.previous = self._load_manifest()
        self.current: dict[str, str] = {}

    def _load_manifest(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def path(self, relative: str) -> Path:
        return output.inside(self.out, relative)

    def write_file(self, relative: str, data: bytes, key: str | None = None) -> None:
        """Write unless the manifest shows the same inputs already produced this file."""
        key = key or cache.key(data, "content")
        target = self.path(relative)
        self.current[relative] = key
        if self.previous.get(relative) == key and target.exists():
            return
        output.write_bytes(target, data)
        self.report.files_written += 1

    @contextlib.contextmanager
    def streamed(self, relative: str) -> Iterator[IO[bytes]]:
        self.current[relative] = "streamed"
        with output.atomic(self.path(relative)) as handle:
            yield handle
        self.report.files_written += 1

    def write(self, metas: dict[str, dict[str, Any]]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        chosen = published(metas, self.now)
        self.report.published = len(chosen)
        events = self._pages_and_feeds(chosen)
        self._calendars(events)
        self._indexes(chosen)
        self._assets()
        self._remove_stale()
        output.write_text(self.manifest_path, json.dumps(self.current, sort_keys=True))

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

    def _pages_and_feeds(
        self, chosen: list[tuple[str, dict[str, Any]]]
    ) -> list[tuple[dict[str, Any], bytes]]:
        """One pass over the published posts: each blob is read once and streamed out."""
        limit = self.settings.site["feed_items"]
        groups: dict[str | None, list[tuple[str, dict[str, Any]]]] = {None: chosen[:limit]}
        for kind in KINDS:
            groups[kind] = [item for item in chosen if item[1]["kind"] == kind][:limit]
        in_feed = {kind: {key for key, _ in items} for kind, items in groups.items()}
        events: list[tuple[dict[str, Any], bytes]] = []
        with contextlib.ExitStack() as stack:
            writers = {kind: self._open_feeds(stack, kind, items) for kind, items in groups.items()}
            for key, meta in chosen:
                blob = self.store.load(key)
                self.write_file(f"posts/{meta['slug']}/index.html", blob["page"], key)
                if blob["ics"]:
                    events.append((meta, blob["ics"]))
                for kind in (None, meta["kind"]):
                    if key in in_feed[kind]:
                        writers[kind].send(blob)
            for writer in writers.values():
                writer.close()
        self.report.pages_written = sum(1 for k in self.current if k.startswith("posts/"))
        return events

    def _open_feeds(
        self,
        stack: contextlib.ExitStack,
        kind: str | None,
        items: list[tuple[str, dict[str, Any]]],
    ) -> feeds.FeedStreams:
        newest = max(
            (dt.datetime.fromisoformat(meta["updated"]) for _, meta in items),
            default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        )
        data = self._feed_data(kind, newest)
        folder = f"{KIND_FOLDERS[kind]}/" if kind else ""
        handles = {
            fmt: stack.enter_context(self.streamed(folder + name))
            for fmt, name in feeds.FORMATS.items()
        }
        return feeds.FeedStreams(handles, data)

    def _calendars(self, events: list[tuple[dict[str, Any], bytes]]) -> None:
        tzid = self.settings.site["timezone"]
        name = self.settings.site["title"]
        upcoming = []
        for meta, vevent in events:
            info = meta["event"]
            self.write_file(f"events/{meta['slug']}.ics", _single_calendar(name, tzid, vevent))
            ends = dt.datetime.fromisoformat(info["end"] or info["start"])
            if ends >= self.now:
                upcoming.append((info["start"], meta["slug"], vevent))
        upcoming.sort()
        with self.streamed("events.ics") as handle:
            ical.write_calendar(
                handle,
                f"{name}: events",
                tzid,
                (v for _, _, v in upcoming),
                self.settings.site["description"],
            )

    def _indexes(self, chosen: list[tuple[str, dict[str, Any]]]) -> None:
        metas = [meta for _, meta in chosen]
        common = {
            "site": self.settings.site,
            "base_url": self.settings.base_url,
            "kind_titles": KIND_TITLES,
            "kind_folders": KIND_FOLDERS,
        }
        self.write_file(
            "index.html",
            self._page(
                "site/index.html",
                **common,
                recent=metas[:20],
                upcoming=_upcoming(metas, self.now),
                issues=[],
                feeds=artefacts.feed_links(self.settings),
                url=self.settings.base_url,
            ),
        )
        self.write_file(
            "posts/index.html",
            self._page(
                "site/archive.html",
                **common,
                title="All posts",
                posts=metas,
                feeds=artefacts.feed_links(self.settings),
                url=f"{self.settings.base_url}posts/",
            ),
        )
        for kind in KINDS:
            folder = KIND_FOLDERS[kind]
            self.write_file(
                f"{folder}/index.html",
                self._page(
                    "site/archive.html",
                    **common,
                    title=KIND_TITLES[kind],
                    posts=[m for m in metas if m["kind"] == kind],
                    feeds=artefacts.feed_links(self.settings, kind),
                    url=f"{self.settings.base_url}{folder}/",
                ),
            )

    def _page(self, template: str, **context: Any) -> bytes:
        return templating.render(self.settings, template, **context).encode("utf-8")

    def _assets(self) -> None:
        for folder in reversed(templating.folders(self.settings)):
            css = folder / "site" / "style.css"
            if css.is_file():
                self.write_file("style.css", css.read_bytes())
        static = self.settings.folder("static")
        if static.is_dir():
            for path in sorted(static.rglob("*")):
                if path.is_file():
                    self.write_file(path.relative_to(static).as_posix(), path.read_bytes())

    def _remove_stale(self) -> None:
        for relative in set(self.previous) - set(self.current):
            with contextlib.suppress(FileNotFoundError, InnovateNewsError):
                target = self.path(relative)
                target.unlink()
                self.report.removed += 1
                with contextlib.suppress(OSError):
                    if target.parent != self.out:
                        target.parent.rmdir()  # only succeeds when empty


def _single_calendar(name: str, tzid: str, vevent: bytes) -> bytes:
    import io

    buffer = io.BytesIO()
    ical.write_calendar(buffer, name, tzid, [vevent])
    return buffer.getvalue()


def _upcoming(metas: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    upcoming = [
        m
        for m in metas
        if m["event"] and dt.datetime.fromisoformat(m["event"]["end"] or m["event"]["start"]) >= now
    ]
    return sorted(upcoming, key=lambda m: m["event"]["start"])
