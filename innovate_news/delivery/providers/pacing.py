"""Pacing: a rate limit that holds over any window, and jittered exponential backoff."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

# A server that says "too fast" halves the rate; each hand-over after that wins back 2%, so the
# configured rate returns after some 35 messages unless the server complains again.
SLOWER, RECOVERY = 0.5, 1.02


class RateLimiter:
    """At most `rate` hand-overs a second over any window, shared by every thread.

    Each caller reserves the next free slot, spaced 1/rate apart, and sleeps until it comes; there
    is no burst allowance, so no window of T seconds ever holds more than rate·T + 1 messages.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = self.target = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
            if self.rate < self.target:
                self._set(min(self.target, self.rate * RECOVERY))
        if slot > now:
            self._sleep(slot - now)

    def slow_down(self) -> None:
        """The server said "too fast": halve the rate (to one message in ten seconds at most)."""
        with self._lock:
            self._set(max(min(self.target, 0.1), self.rate * SLOWER))

    def _set(self, rate: float) -> None:
        self.rate = rate
        self.interval = 1.0 / rate


class ConnectionCap:
    """Messages per connection: the configured most, lowered for the rest of the run when a
    server refuses the next message on a connection (Yahoo, SES, Exim and others cap them)."""

    def __init__(self, most: int):
        self.most = most
        self.learnt: int | None = None
        self._lock = threading.Lock()

    def refused_after(self, carried: int) -> None:
        """A connection carried `carried` messages, and the server refused one more."""
        with self._lock:
            self.most = max(1, min(self.most, carried))
            self.learnt = self.most


def backoff(attempt: int, base: float, cap: float = 300.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): base·2^(attempt-1), jittered.

    "Equal jitter": half the delay is fixed and half random, so retries spread out but never
    come back sooner than half the nominal delay.
    """
    nominal = min(cap, base * 2.0 ** (attempt - 1))
    return nominal / 2 + random.uniform(0, nominal / 2)  # noqa: S311 (timing jitter, not secrets)
