"""`innovate-news build`: read and check every post, then write the site.

Stage 1 renders each changed post in worker processes into the cache (the state folder, never
the output). Stage 2 checks what needs all posts at once (unique slugs). Only then does stage 3
(site.py) touch the output folder, each file written atomically.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news import templating
from innovate_news.content import posts
from innovate_news.errors import ContentError, Problem, TemplateError
from innovate_news.settings import Settings
from innovate_news.site import artefacts, cache

if TYPE_CHECKING:
    from concurrent.futures import Executor

_CHUNK = 48
# Below this many posts, starting worker processes costs more than they save.
PARALLEL_THRESHOLD = 400


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


@dataclass(frozen=True)
class Source:
    """A post file, and its key when the last build already knew it (else the worker hashes).

    `recheck`: the key the worker computes may be in the index already, because the last
    build knew the file under the same settings and templates (it was touched, or saved twice
    within a second). Otherwise the worker does not look, and so never loads the index.
    """

    path: Path
    key: str | None
    recheck: bool = False


# Worker state: set by the build for its own process, then by init_worker in each worker.
_WORKER: dict[str, Any] = {}


def init_worker(settings: Settings, cache_folder: Path, fingerprint: str = "") -> None:
    store = _WORKER.get("cache")
    if not (isinstance(store, cache.Cache) and store.folder == cache_folder):
        store = cache.Cache(cache_folder)  # a spawned worker; a forked one has the build's
    _WORKER.update(settings=settings, cache=store, fingerprint=fingerprint)


def init_build(settings: Settings, store: cache.Cache, fingerprint: str) -> None:
    """This process renders too, with the build's cache (its index is loaded once, and forked
    workers inherit it rather than loading it again)."""
    _WORKER.update(settings=settings, cache=store, fingerprint=fingerprint)


def worker_cache() -> cache.Cache:
    store: cache.Cache = _WORKER["cache"]
    return store


def _render_chunk(chunk: Sequence[Source]) -> list[tuple[str, Any]]:
    """Parse, render and cache each post; return its metadata or its problems."""
    # Rendering makes thousands of short-lived objects and no reference cycles to speak of:
    # the cycle collector only costs time here, so it waits until the chunk is done.
    gc.disable()
    try:
        return _render_sources(chunk)
    finally:
        gc.enable()


def _render_sources(chunk: Sequence[Source]) -> list[tuple[str, Any]]:
    settings: Settings = _WORKER["settings"]
    store = worker_cache()
    results: list[tuple[str, Any]] = []
    built: list[tuple[str, artefacts.Artefacts]] = []
    for source in chunk:
        data = source.path.read_bytes()
        key = source.key or cache.source_key(source.path, data, _WORKER["fingerprint"])
        meta = store.meta(key) if source.recheck else None
        if meta is not None:  # touched but not changed: the last build's artefacts still hold
            results.append(("reused", (source.path, key, meta)))
            continue
        try:
            post = posts.parse(source.path, data, settings.timezone, settings.site["author"])
            made = artefacts.build(settings, post)
        except ContentError as exc:
            results.append(("problems", exc.problems))
            continue
        built.append((key, made))
        results.append(("built", (source.path, key)))
    if built:
        locations = store.store_many(built)
        metas = {key: {**cache.compact(made.meta), "_pack": locations[key]} for key, made in built}
        results = [
            ("ok", (value[0], value[1], metas[value[1]])) if kind == "built" else (kind, value)
            for kind, value in results
        ]
    return results


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Pool:
    """Worker processes, started only when there is enough work to repay starting them."""

    def __init__(self, settings: Settings, store: cache.Cache, jobs: int | None):
        self.settings = settings
        self.store = store
        self.fingerprint = cache.fingerprint(settings.fingerprint, templating.digest(settings))
        self.workers = jobs or os.cpu_count() or 1
        self._executor: Executor | None = None

    def executor(self) -> Executor | None:
        if self.workers == 1:
            return None
        if self._executor is None:
            # What the parent holds now (settings, templates, the cache index) is shared with
            # the forked workers; freezing it keeps their collector from touching, and so
            # copying, every one of those pages.
            gc.freeze()
            from concurrent.futures import ProcessPoolExecutor  # not for builds with little to do

            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                initializer=init_worker,
                initargs=(self.settings, self.store.folder, self.fingerprint),
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()


def build(
    settings: Settings,
    out: Path | None = None,
    now: dt.datetime | None = None,
    jobs: int | None = None,
) -> BuildReport:
    from innovate_news.site.writer import SiteWriter

    started = time.perf_counter()
    now = now or now_utc()
    out = (out or settings.folder("output")).resolve()
    report = BuildReport(out=out)
    store = cache.Cache(settings.folder("state") / "cache")
    # Templates are compiled once a build (auto_reload is off), so a long-lived process that
    # builds again must not render an edited template's old version under its new cache key.
    templating.reset()
    if problems := templating.check(settings):  # before any output: a broken index half-writes
        raise TemplateError(problems)
    pool = Pool(settings, store, jobs)
    init_build(settings, store, pool.fingerprint)
    sources = _sources(settings, store, pool)
    report.posts = len(sources)
    try:
        keys, metas = _render(store, sources, pool, report)
        _check_metas(metas)
        writer = SiteWriter(settings, out, store, now, report, pool)
        writer.start(metas)
        # While the workers stream the feeds: the index is complete once every post is rendered.
        store.save_index({key: metas[key] for key in keys.values()}, store.stats)
        writer.finish()
    finally:
        pool.close()
    report.seconds = time.perf_counter() - started
    return report


def _sources(settings: Settings, store: cache.Cache, pool: Pool) -> list[Source]:
    folder = settings.folder("posts")
    paths = posts.sources(folder)
    if not paths:
        raise ContentError(
            f"no posts in {folder}: add a markdown file such as "
            f"{folder}/2021-03-04-first-post.md with title, date and kind in its front matter"
        )
    if len(paths) >= PARALLEL_THRESHOLD:
        # Start the workers before the cache index loads: a warm build's workers only copy
        # feeds, and a process that shares its memory with children pays a page copy for
        # each page of it that it then touches (the index is tens of megabytes).
        pool.executor()
    found = []
    for path in paths:
        key = store.known_key(path, pool.fingerprint)
        found.append(Source(path, key, key is None and store.known_before(path, pool.fingerprint)))
    return found


def _render(
    store: cache.Cache,
    sources: list[Source],
    pool: Pool,
    report: BuildReport,
) -> tuple[dict[Path, str], dict[str, dict[str, Any]]]:
    """Each source's key, and the metadata of every key (from the cache or rendered now)."""
    keys: dict[Path, str] = {}
    metas: dict[str, dict[str, Any]] = {}
    misses: list[Source] = []
    for source in sources:
        meta = store.meta(source.key) if source.key else None
        if meta is None or source.key is None:
            misses.append(source)
        else:
            keys[source.path], metas[source.key] = source.key, meta
    problems: list[Problem] = []
    for kind, value in _run_workers(store, misses, pool):
        if kind == "problems":
            problems.extend(value)
            continue
        path, key, meta = value
        keys[path], metas[key] = key, meta
        report.rendered += kind == "ok"
    if problems:
        raise ContentError(problems)
    for path, key in keys.items():
        store.record(path, key)
    return keys, metas


def _run_workers(store: cache.Cache, misses: list[Source], pool: Pool) -> Iterator[tuple[str, Any]]:
    chunks = [misses[i : i + _CHUNK] for i in range(0, len(misses), _CHUNK)]
    executor = pool.executor() if len(misses) > _CHUNK else None
    if executor is None:
        for chunk in chunks:
            yield from _render_chunk(chunk)
        return
    for results in executor.map(_render_chunk, chunks):
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


def published(
    metas: dict[str, dict[str, Any]], now: dt.datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Published posts, newest first (ties broken by slug so the order never wobbles)."""
    moment = now.timestamp()  # timestamps, not dates parsed again for each of 10,000 posts
    chosen = [
        (key, meta) for key, meta in metas.items() if not meta["draft"] and meta["ts"] <= moment
    ]
    chosen.sort(key=lambda item: (item[1]["ts"], item[1]["slug"]))
    chosen.reverse()
    return chosen
