"""Faults injected from outside the package: providers that fail in chosen ways.

A crash is a child process that sends through `innovate_news.api` with a provider that kills the
process at the chosen moment, so the package itself carries no hook for tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from innovate_news.delivery.providers.base import Limits, Provider
from innovate_news.mail import Message, Receipt

CRASH_EXIT = 86


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


def crash_command(*args: str | int) -> list[str]:
    """The child's command line: crash_send(*args) in a fresh interpreter."""
    return [
        sys.executable,
        "-c",
        f"from tests.support.faults import crash_send; crash_send(*{list(args)!r})",
    ]
