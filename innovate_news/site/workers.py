"""The build's worker processes: each parses, renders and caches a chunk of posts.

A worker reaches the settings and the cache through module state, set once per process by the
pool's initializer: that is the only channel a process pool gives its workers.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news.errors import ContentError
from innovate_news.settings import Settings
from innovate_news.site import cache, keys

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from innovate_news.site.artefacts import Artefacts

CHUNK = 48
# Below this many posts, starting worker processes costs more than they save.
PARALLEL_THRESHOLD = 400


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


def init_worker(settings: Settings, cache_folder: Path, stamp: str, fingerprint: str) -> None:
    store = _WORKER.get("cache")
    if not (isinstance(store, cache.Cache) and store.folder == cache_folder):
        store = cache.Cache(cache_folder, stamp)  # a spawned worker; a forked one has the build's
    _WORKER.update(settings=settings, cache=store, fingerprint=fingerprint)


def init_build(settings: Settings, store: cache.Cache, fingerprint: str) -> None:
    """This process renders too, with the build's cache (its index is loaded once, and forked
    workers inherit it rather than loading it again)."""
    _WORKER.update(settings=settings, cache=store, fingerprint=fingerprint)


def worker_cache() -> cache.Cache:
    store: cache.Cache = _WORKER["cache"]
    return store


def worker_settings() -> Settings:
    settings: Settings = _WORKER["settings"]
    return settings


def render_chunk(chunk: Sequence[Source]) -> list[tuple[str, Any]]:
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
    # Parsing and rendering load YAML, markdown and the templates: only a chunk with a post to
    # render again needs them, so a build with nothing new never imports them.
    from innovate_news.content import posts
    from innovate_news.site import artefacts

    built: list[tuple[str, Artefacts]] = []
    for source in chunk:
        data = source.path.read_bytes()
        key = source.key or keys.source_key(source.path, data, _WORKER["fingerprint"])
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
        metas = {key: cache.compact(made.meta, locations[key]) for key, made in built}
        results = [
            ("ok", (value[0], value[1], metas[value[1]])) if kind == "built" else (kind, value)
            for kind, value in results
        ]
    return results


class Pool:
    """Worker processes, started only when there is enough work to repay starting them."""

    def __init__(self, settings: Settings, store: cache.Cache, jobs: int | None):
        self.settings = settings
        self.store = store
        # Settings and code: part of every key. A post's artefacts add the templates its
        # page can reach (a list template's edit renders no post again).
        self.base = keys.combine(settings.fingerprint, store.stamp)
        self.fingerprint = keys.combine(self.base, keys.templates(settings, ["site/post.html"]))
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
                initargs=(self.settings, self.store.folder, self.store.stamp, self.fingerprint),
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
