"""An in-memory provider: for tests and --dry-run, nothing leaves the process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from innovate_news.delivery.providers.base import Limits
from innovate_news.mail import Message, Receipt

# Decides the fate of one message on its Nth attempt; None means "accept it".
Script = Callable[[Message, int], Receipt | None]


class MemoryProvider:
    """Accepts every message (or does what `script` says); remembers them unless keep=False."""

    name = "memory"

    def __init__(
        self, limits: Limits | None = None, script: Script | None = None, keep: bool = True
    ):
        self.limits = limits or Limits(batch_size=100)
        self.script = script
        self.keep = keep
        self.messages: list[Message] = []
        self.count = 0
        self.bytes = 0
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        """Nothing to connect to."""

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        return [self._one(message) for message in batch]

    def _one(self, message: Message) -> Receipt:
        with self._lock:
            attempt = self.attempts[message.address] = self.attempts.get(message.address, 0) + 1
        scripted = self.script(message, attempt) if self.script else None
        if scripted is not None:
            return scripted
        size = len(message.data)
        with self._lock:
            self.count += 1
            self.bytes += size
            if self.keep:
                self.messages.append(message)
        return Receipt(message.address, "sent", provider_id=f"memory-{self.count}")

    def close(self) -> None:
        """Nothing to close."""
