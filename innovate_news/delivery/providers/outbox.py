"""The outbox provider: one .eml file per recipient, written atomically, for any mail client."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from innovate_news import layout
from innovate_news.delivery.providers.base import Limits
from innovate_news.mail import Message, Receipt
from innovate_news.output import write_bytes


class OutboxProvider:
    """Writes each message to `folder/<address>.eml`; a rerun overwrites nothing already sent."""

    name = "outbox"

    def __init__(self, folder: Path, limits: Limits | None = None):
        self.folder = folder
        self.limits = limits or Limits(batch_size=50)

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        receipts = []
        for message in batch:
            name = layout.outbox_file(message.address)
            try:
                # Private: each file holds its recipient's working unsubscribe link.
                write_bytes(self.folder / name, message.data, private=True)
            except OSError as exc:
                receipts.append(Receipt(message.address, "deferred", error=f"{name}: {exc}"))
                continue
            receipts.append(Receipt(message.address, "sent", provider_id=name))
        return receipts

    def close(self) -> None:
        return None
