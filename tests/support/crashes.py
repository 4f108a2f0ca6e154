"""Crashes injected into a child Python: it ends with os._exit at a chosen point of a list write.

`command(point, "-c", code, ...)` or `command(point, "-m", module, ...)` is a command line that
runs like `python -c` or `python -m`, with the crash armed first by patching the list writer:

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from innovate_news import output
from innovate_news.audience import listfile

CRASH_EXIT = 87  # how a child that crashed as arranged ends


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
