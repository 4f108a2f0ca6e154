"""What a running send shows and how it stops: the plan, a progress bar or lines, and Ctrl-C
(first: finish the hand-over in flight; second: abandon it). Shared by `send` and `send --due`."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from innovate_news.delivery.plan import Plan
    from innovate_news.delivery.sender import SendSummary


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def echo_plan(the_plan: Plan) -> None:
    for line in the_plan.lines():
        click.echo(line)


@contextlib.contextmanager
def interruptible(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish and record the hand-overs in flight, then stop. Second: abandon."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo(
            "\nStopping after the hand-over in flight (Ctrl-C again to abandon it)...", err=True
        )

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no handler, Ctrl-C stays an exception
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Progress:
    """A bar with rate and ETA on a terminal; a plain line every 10% otherwise."""

    def __init__(self) -> None:
        self.total = 0
        self.started = time.monotonic()
        self.shown = 0
        self.bar: Any = None

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        if sys.stdout.isatty() and total:
            self.bar = click.progressbar(
                length=total, label="Sending", show_eta=True, show_pos=True
            )
            self.bar.__enter__()

    def tick(self, summary: SendSummary) -> None:
        done = summary.done
        rate = done / max(1e-9, time.monotonic() - self.started)
        if self.bar is not None:
            self.bar.update(done - self.shown, current_item=rate)
            self.shown = done
            return
        step = max(1, self.total // 10)
        if done // step > self.shown // step or (done == self.total and self.shown < done):
            click.echo(f"  {done}/{self.total} handled ({summary.sent} sent, {rate:.0f}/s)")
            self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
