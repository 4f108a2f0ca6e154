"""Changes to a project's sources, as they happen (watchfiles, used here only)."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import watchfiles

# Milliseconds: a batch is handed over once the sources have been quiet for STEP (an editor's
# save is several events), and at the latest after DEBOUNCE. TICK bounds how long a watcher
# takes to notice that it should stop.
STEP = 30
DEBOUNCE = 400
TICK = 200
READY_WAIT = 10  # seconds to wait for the watches to be in place


@dataclass(frozen=True)
class Targets:
    """What to watch: the settings file, and the source folders (watched with all they hold)."""

    settings: Path
    folders: tuple[Path, ...]

    def present(self) -> tuple[Path, ...]:
        """The folders that exist (a folder that does not is watched for in its parent)."""
        return tuple(folder for folder in self.folders if folder.is_dir())


def changes(targets: Targets, stop: threading.Event) -> Iterator[set[Path]]:
    """Each batch of changed paths, until `stop` is set or the caller stops asking. The first
    batch is empty: it comes once every watch is in place, so whatever changes after it is
    seen, and the caller can build then without missing an edit made while it was starting.

    The settings file is watched through its folder, not by itself: an editor that saves by
    writing a new file and renaming it over the old one would end a watch on the file. That
    folder (the project) is watched alone, not with its subfolders, which hold virtual
    environments with thousands of folders; the source folders are watched with all they hold.
    A source folder that is created or removed is reported too, so the caller can watch anew.
    """
    found: queue.Queue[set[Path]] = queue.Queue()
    done = threading.Event()
    project = targets.settings.parent
    wanted = {targets.settings, *(f for f in targets.folders if f.parent == project)}
    watchers = [
        _start([project], False, lambda _, path: Path(path) in wanted, found, done),
    ]
    if present := targets.present():
        watchers.append(_start(list(present), True, watchfiles.DefaultFilter(), found, done))
    try:
        for _, watching in watchers:
            watching.wait(READY_WAIT)
        yield set()
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                batch = found.get(timeout=TICK / 1000)
                while not found.empty():
                    batch |= found.get_nowait()
                yield batch
    finally:
        done.set()
        for watcher, _ in watchers:
            watcher.join(5)


def _start(
    paths: Sequence[Path],
    recursive: bool,
    keep: Callable[[watchfiles.Change, str], bool],
    found: queue.Queue[set[Path]],
    done: threading.Event,
) -> tuple[threading.Thread, threading.Event]:
    """A thread following `paths`, and an event set once its watch is in place."""
    watching = threading.Event()

    def follow() -> None:
        for batch in watchfiles.watch(
            *paths,
            watch_filter=keep,
            debounce=DEBOUNCE,
            step=STEP,
            stop_event=done,
            rust_timeout=TICK,
            recursive=recursive,
            raise_interrupt=False,
            yield_on_timeout=True,  # an empty batch each TICK: the first says the watch is on
        ):
            watching.set()
            if batch:
                found.put({Path(path) for _, path in batch})

    thread = threading.Thread(target=follow, name="innovate-news-watch", daemon=True)
    thread.start()
    return thread, watching
