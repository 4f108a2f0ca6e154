"""Who may be sent an issue at all: subscribed, not suppressed, and not someone erased.

`send` (through its plan) and `subscribers check` ask the same question here, so the two never
disagree about a person.
"""

from __future__ import annotations

from collections.abc import Iterable

from innovate_news.audience.privacy import PREFIX as ERASED_PREFIX
from innovate_news.audience.privacy import pseudonyms
from innovate_news.audience.subscribers import Subscriber, normalise
from innovate_news.audience.tokens import Keyring


class Suppressions:
    """The ledger's suppressions, matched in any case, and the erased, matched by pseudonym."""

    def __init__(self, suppressed: Iterable[str], keyring: Keyring | None):
        self.addresses = {normalise(a) for a in suppressed}
        self.erased = {a for a in self.addresses if a.startswith(ERASED_PREFIX)}
        self.keyring = keyring

    def holds(self, address: str) -> bool:
        if normalise(address) in self.addresses:
            return True
        # An erased person whose address came back (an old CSV, typed in by hand).
        if not self.erased or self.keyring is None:
            return False
        return any(normalise(p) in self.erased for p in pseudonyms(self.keyring, address))


def excluded(subscriber: Subscriber, suppressions: Suppressions) -> str | None:
    """Why `subscriber` gets no issue ("not_subscribed", "suppressed"), or None."""
    if not subscriber.subscribed:
        return "not_subscribed"
    if suppressions.holds(subscriber.key):
        return "suppressed"
    return None
