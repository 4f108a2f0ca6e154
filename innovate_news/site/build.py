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
from innovate_news.errors import BuildLockedError, ContentError, Problem, TemplateError
from innovate_news.settings import Settings
from innovate_news.site import cache, keys, workers
from innovate_news.site.cache import Row
from innovate_news.site.report import BuildReport
from innovate_news.site.workers import Pool, Source
from innovate_news.site.writer import SiteWriter
from innovate_news.store import locks


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build(
    settings: Settings,
    out: Path | None = None,
    now: dt.datetime | None = None,
    jobs: int | None = None,
    patience: float = 600.0,
) -> BuildReport:
    """Build the site; a second build of the same project waits up to `patience` seconds for
    the first to finish (two at once would write one output folder from two states)."""
    started = time.perf_counter()
    lock = settings.folder("state") / "locks" / "build.lock"

    def busy(holder: str) -> Exception:
        return BuildLockedError(
            f"another build of this project is running ({holder}); waited {patience:.0f} s "
            f"for it to finish (the lock is {lock})"
        )

    with locks.exclusive(lock, busy, patience):
        report = _build(
            settings, (out or settings.folder("output")).resolve(), now or now_utc(), jobs
        )
    report.seconds = time.perf_counter() - started
    return report


def _build(settings: Settings, out: Path, now: dt.datetime, jobs: int | None) -> BuildReport:
    report = BuildReport(out=out)
    store = cache.Cache(cache.folder(settings), keys.code())
    # Templates are compiled once a build (auto_reload is off), so a long-lived process that
    # builds again must not render an edited template's old version under its new cache key.
    templating.reset()
    _check_templates(settings, store)
    pool = workers.Pool(settings, store, jobs)
    workers.init_build(settings, store, pool.fingerprint)
    sources = _sources(settings, store, pool)
    report.posts = len(sources)
    try:
        found, metas = _render(store, sources, pool, report)
        _check_metas(metas)
        writer = SiteWriter(settings, out, store, now, report, pool)
        try:
            writer.start(metas)
            # While the workers stream the feeds: the index is complete once every post is
            # rendered.
            store.save_index({key: metas[key] for key in found.values()}, store.stats)
            writer.finish()
        except BaseException:
            writer.abandon()
            raise
    finally:
        store.close()
        pool.close()
    return report


def _check_templates(settings: Settings, store: cache.Cache) -> None:
    """Every template compiles, checked before anything is rendered; skipped when they are the
    ones the last build checked (compiling them all is most of a build with nothing to do)."""
    everything = templating.digest(settings, "")
    if everything != store.previous_templates() and (problems := templating.check(settings)):
        raise TemplateError(problems)
    store.templates_checked = everything


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
) -> tuple[dict[Path, str], dict[str, Row]]:
    """Each source's key, and the metadata of every key (from the cache or rendered now)."""
    keys: dict[Path, str] = {}
    metas: dict[str, Row] = {}
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


def _check_metas(metas: dict[str, Row]) -> None:
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
