"""`serve-site`'s builds: the site built for a server on this machine, into a folder of its own.

The real build's links are absolute (`base_url`), so the site in `site/` only works once it is
on its host. This build puts the local server's address in `base_url`, and keeps its output and
build state (cache, manifests, lock) in the build cache folder, apart from the real ones: the
real `site/` and its warm cache are never touched, and `cache clear` removes this one too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from innovate_news import settings as settings_module
from innovate_news import templating
from innovate_news.errors import InnovateNewsError, ProblemsError
from innovate_news.settings import Settings
from innovate_news.site import build, cache, keys, watch

FOLDER = "serve-site"  # inside the build cache: disposable, and gone with `cache clear`
Notify = Callable[[str], None]


def folder(settings: Settings) -> Path:
    """Where serve-site keeps its build: `site/` (served) and `build/` (its cache and lock)."""
    return cache.folder(settings) / FOLDER


def local(settings: Settings, base_url: str, own_state: bool = False) -> Settings:
    """`settings` with the site at `base_url`; with `own_state`, also with serve-site's own
    build state, so its cache never evicts the real build's."""
    values = {**settings.values, "site": {**settings.site, "base_url": base_url}}
    if own_state:
        values["paths"] = {**settings["paths"], "state": str(folder(settings) / "build")}
    # The fingerprint is part of every cache key: other values, other keys.
    fingerprint = keys.combine(settings.fingerprint, FOLDER, base_url, str(own_state))
    return dataclasses.replace(settings, values=values, fingerprint=fingerprint)


@dataclasses.dataclass(frozen=True)
class Status:
    """The outcome of the last build attempt. `version` counts attempts, `built` the good ones;
    `error` is what failed (the last good site is still served)."""

    version: int = 0
    built: int = 0
    error: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class LiveSite:
    """The settings file's project, built for `base_url` again after every change."""

    def __init__(self, settings: Settings, base_url: str, notify: Notify):
        self.settings = settings  # the last settings that loaded without error
        self.base_url = base_url
        self.notify = notify
        self.out = folder(settings) / "site"
        self.status = Status()
        # One build or email render at a time: both compile templates, and a build resets them.
        self._work = threading.Lock()
        self._changed = threading.Condition()
        self._closed = False

    def targets(self) -> watch.Targets:
        """What a build reads: the settings file, posts, issues, static files, templates."""
        chosen = self.settings
        folders = [chosen.folder(name) for name in ("posts", "issues", "static")]
        folders += templating.folders(chosen)
        unique = dict.fromkeys(p.resolve() for p in folders)
        return watch.Targets(chosen.path.resolve(), tuple(unique))

    def rebuild(self) -> Status:
        """Load the settings again and build; a failure keeps the last good site in place."""
        started = time.perf_counter()
        with self._work:
            error = self._build()
        seconds = time.perf_counter() - started
        old = self.status
        new = Status(old.version + 1, old.built + (error is None), error, seconds)
        with self._changed:
            self.status = new
            self._changed.notify_all()
        return new

    def _build(self) -> str | None:
        try:
            self.settings = settings_module.load(self.settings.path)
            self.out = folder(self.settings) / "site"
            report = build.build(local(self.settings, self.base_url, own_state=True), self.out)
        except ProblemsError as exc:
            return _told(self.notify, str(exc))
        except InnovateNewsError as exc:
            return _told(self.notify, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug shown like any failed build: the server outlives it
            self.notify(traceback.format_exc().rstrip())
            return _told(self.notify, f"{type(exc).__name__}: {exc}")
        self.notify(
            f"Built in {report.seconds:.2f} s: {report.rendered} post(s) rendered, "
            f"{report.files_written} file(s) written, {report.removed} removed."
        )
        return None

    def wait(self, after: int, timeout: float) -> Status:
        """The status once its version is past `after`, or after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.status.version > after or self._closed, timeout=timeout
            )
            return self.status

    def close(self) -> None:
        """Answer every waiting request now (the server is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def email(self, now: dt.datetime | None = None) -> str:
        """The latest issue's email as the sample subscriber gets it (`preview latest`), with
        its site links pointing at this server."""
        from innovate_news.email import preview

        with self._work:
            return preview.render(local(self.settings, self.base_url), "latest", now=now).html


def _told(notify: Notify, error: str) -> str:
    notify(f"Build failed; still serving the last good site.\n{error}")
    return error
