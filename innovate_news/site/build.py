"""`innovate-news build`: read and check every post, then write the site.

Stage 1 renders each changed post in worker processes (workers.py) into the cache (the state
folder, never the output). Stage 2 checks what needs all posts at once (unique slugs). Only then
does stage 3 (writer.py) touch the output folder, each file written atomically.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from innovate_news import templating
from innovate_news.content import posts
from innovate_news.errors import ContentError, Problem, TemplateError
from innovate_news.settings import Settings
from innovate_news.site import cache, workers
from innovate_news.site.report import BuildReport
from innovate_news.site.workers import Pool, Source
from innovate_news.site.writer import SiteWriter


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
    # Templates are compiled once a build (auto_reload is off), so a long-lived process that
    # builds again must not render an edited template's old version under its new cache key.
    templating.reset()
    if problems := templating.check(settings):  # before any output: a broken index half-writes
        raise TemplateError(problems)
    pool = workers.Pool(settings, store, jobs)
    workers.init_build(settings, store, pool.fingerprint)
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
    if len(paths) >= workers.PARALLEL_THRESHOLD:
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
    pool: workers.Pool,
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
    chunks = [misses[i : i + workers.CHUNK] for i in range(0, len(misses), workers.CHUNK)]
    executor = pool.executor() if len(misses) > workers.CHUNK else None
    if executor is None:
        for chunk in chunks:
            yield from workers.render_chunk(chunk)
        return
    for results in executor.map(workers.render_chunk, chunks):
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
