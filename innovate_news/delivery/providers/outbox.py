"""The outbox provider: one .eml file per recipient, written atomically, for any mail client."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from innovate_news.delivery.providers.base import Limits, Message, Receipt
from innovate_news.output import write_bytes

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def file_name(address: str) -> str:
    """A file name that is safe everywhere and still says whose copy it is."""
    safe = _UNSAFE.sub("_", address).lstrip(".")
    if safe != address or len(safe) > 120:
        # Two addresses that sanitise alike must not share a file.
        digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:10]
        safe = f"{safe[:100]}-{digest}"
    return f"{safe}.eml"


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
            name = file_name(message.address)
            try:
                write_bytes(self.folder / name, message.data)
            except OSError as exc:
                receipts.append(Receipt(message.address, "deferred", error=f"{name}: {exc}"))
                continue
            receipts.append(Receipt(message.address, "sent", provider_id=name))
        return receipts

    def close(self) -> None:
        return None
