"""Crashes injected into a child Python from outside the package, which carries no hook for tests.

Each child ends with os._exit(CRASH_EXIT) at a chosen moment:

- `send_command(...)` sends an issue through `innovate_news.api` with a provider that ends the
  process once N copies were accepted: between the provider's acceptance and the ledger's record;
- `command(point, "-c", code, ...)` or `command(point, "-m", module, ...)` runs like `python -c`
  or `python -m` with a list-writer crash armed first:
  - mid_rewrite: a rewrite of the subscriber list writes half its bytes to the temp file, then
    the process ends (the temp file stays, the list is not replaced);
  - after_append: an append's single write reaches the list, then the process ends (before the
    fsync and close that follow it).
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from innovate_news import output
from innovate_news.audience import listfile
from innovate_news.delivery.providers.base import Limits, Provider
from innovate_news.mail import Message, Receipt

CRASH_EXIT = 86  # how a child that crashed as arranged ends


def command(point: str, *python_args: str) -> list[str]:
    """A command line running `python_args` (-c CODE ... or -m MODULE ...) with `point` armed."""
    assert point in _ARM, point
    return [sys.executable, str(Path(__file__).resolve()), point, *python_args]


class _HalfThenExit:
    """A file that takes half of the first bytes written to it, then ends the process."""

    def __init__(self, out: IO[bytes]):
        self.out = out

    def write(self, data: bytes) -> int:
        self.out.write(data[: len(data) // 2])
        self.out.flush()
        os._exit(CRASH_EXIT)


def _mid_rewrite(patch: pytest.MonkeyPatch) -> None:
    real = output.atomic  # what the list writer rewrites the list with

    @contextlib.contextmanager
    def atomic(path: Path, *args: Any, **kwargs: Any) -> Iterator[_HalfThenExit]:
        with real(path, *args, **kwargs) as out:
            yield _HalfThenExit(out)

    patch.setattr(listfile, "atomic", atomic)


def _after_append(patch: pytest.MonkeyPatch) -> None:
    real = os.write

    def write(fd: int, data: bytes) -> int:
        real(fd, data)
        os._exit(CRASH_EXIT)

    patch.setattr(os, "write", write)  # the child writes nothing else before the append's


_ARM: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "mid_rewrite": _mid_rewrite,
    "after_append": _after_append,
}


class CrashAfterHandover:
    """Passes batches to a real provider, then kills the process once `after` copies were
    accepted: between the provider's acceptance and the ledger's record of it."""

    def __init__(self, inner: Provider, after: int):
        self.inner = inner
        self.after = after
        self.accepted = 0
        self.name = inner.name
        self.limits: Limits = inner.limits

    def open(self) -> None:
        self.inner.open()

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        receipts = self.inner.send(batch)
        self.accepted += sum(r.status == "sent" for r in receipts)
        if self.accepted >= self.after:
            os._exit(CRASH_EXIT)
        return receipts

    def close(self) -> None:
        self.inner.close()


def crash_send(
    config: str, issue: str, provider: str, subscribers: str, after: int, now: str
) -> None:
    """Send `issue` and die after `after` hand-overs (run in a child process)."""
    import datetime as dt

    from innovate_news import api
    from innovate_news.delivery import providers

    settings = api.load_settings(Path(config))
    inner = providers.create(settings, provider, issue)
    faulty = CrashAfterHandover(inner, after)
    when = dt.datetime.fromisoformat(now).replace(tzinfo=settings.timezone)
    api.send(settings, issue, provider=faulty, subscribers=Path(subscribers), now=when)
    sys.exit(0)  # reached only when the crash never came


def send_command(*args: str | int) -> list[str]:
    """The child's command line: crash_send(*args) in a fresh interpreter."""
    return [
        sys.executable,
        "-c",
        f"from tests.support.crashes import crash_send; crash_send(*{list(args)!r})",
    ]


def main(point: str, option: str, target: str, *args: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        _ARM[point](patch)
        if option == "-m":
            sys.argv = [target, *args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            assert option == "-c", option
            sys.argv = ["-c", *args]
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102


if __name__ == "__main__":
    main(*sys.argv[1:])
