"""When sends may happen: an issue's `send_at` and the `[email] window`, in the site's zone.

Pure functions of an aware `now`, so they can be tested at any instant (DST changes included).
Local wall-clock times become instants by one rule, the one `date:` fields follow too: a time
that does not exist (the spring-forward gap) moves forward by the gap's length (01:30 on the
last Sunday of March in Europe/London is 02:30 BST); a time that happens twice (the fall-back
hour) is its first occurrence (BST). Instants are kept in UTC: Python compares two datetimes
of the same zone by their wall-clock readings, which is wrong across a change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW = re.compile(
    r"\s*(?P<days>[A-Za-z][A-Za-z,\s-]*?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*"
)
_LOOKAHEAD = 15  # days searched for the next opening: a weekly window opens within 8

Clock = Callable[[], dt.datetime]


def instant(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A local wall-clock time in `zone` as a UTC instant (gap: forward; repeated: first)."""
    if naive.tzinfo is not None:
        return naive.astimezone(dt.UTC)
    return naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


@dataclass(frozen=True)
class Window:
    """Days of the week (0 is Monday) and a local time span [start, end) in which sends run."""

    days: frozenset[int]
    start: dt.time
    end: dt.time
    text: str = ""

    def open(self, now: dt.datetime, zone: ZoneInfo) -> bool:
        """Whether the local wall clock at `now` reads a window day and a time inside the span."""
        local = now.astimezone(zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_start(self, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """The first opening after `now` (UTC); one inside the gap starts where the gap ends."""
        day = now.astimezone(zone).date()
        for offset in range(_LOOKAHEAD):
            date = day + dt.timedelta(days=offset)
            if date.weekday() not in self.days:
                continue
            start = instant(dt.datetime.combine(date, self.start), zone)
            if start > now and self.open(start, zone):
                return start
        raise AssertionError(f"window {self.text!r} never opens")  # parse_window refuses that

    def describe(self, zone: ZoneInfo) -> str:
        return f"{self.text} ({zone.key})"


def parse_window(text: str) -> Window:
    """`Mon-Fri 08:00-18:00`, `Mon,Wed 09:00-12:00`, `Sat 10:00-16:00`, `daily 08:00-20:00`.

    Raises ValueError saying what would fit; a span must end after it starts on the same day.
    """
    found = _WINDOW.fullmatch(text)
    if not found:
        raise ValueError(f"must be days and a time span like 'Mon-Fri 08:00-18:00', not {text!r}")
    days = _days(found["days"])
    start, end = _time(found["start"]), _time(found["end"])
    if end <= start:
        raise ValueError(
            f"{text!r}: the span must end after it starts, within one day (no span past midnight)"
        )
    return Window(days, start, end, " ".join(text.split()))


def _days(text: str) -> frozenset[int]:
    if text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        a, b = _day(first), _day(last or first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # Fri-Mon wraps the weekend
    return frozenset(days)


def _day(text: str) -> int:
    name = text.strip().lower()
    if not name:
        raise ValueError("a day is missing between commas or around a dash")
    if name in _FULL:
        return _FULL.index(name)
    if name not in DAYS:
        raise ValueError(f"unknown day {text!r}: use Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily")
    return DAYS.index(name)


def _time(text: str) -> dt.time:
    hours, minutes = (int(n) for n in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return dt.time(hours, minutes)


@dataclass(frozen=True)
class Gate:
    """What a scheduled run checks before each batch: is the window still open on `clock`?"""

    window: Window
    zone: ZoneInfo
    clock: Clock

    def closed(self) -> str | None:
        """None while open; otherwise why not, and when the window opens next."""
        now = self.clock()
        if self.window.open(now, self.zone):
            return None
        return f"outside the send window {self.window.describe(self.zone)}; " + self.resumes(now)

    def resumes(self, now: dt.datetime) -> str:
        start = self.window.next_start(now, self.zone).astimezone(self.zone)
        return f"it opens next at {start:%a %Y-%m-%d %H:%M %Z}"


def due(send_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an issue's time has come (an issue without send_at is never due)."""
    return send_at is not None and send_at <= now
