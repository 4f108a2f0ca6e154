"""iCalendar (RFC 5545) for events, through icalendar: one VEVENT per event, cached as bytes."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import IO

from icalendar import Calendar, Timezone
from icalendar import Event as VEvent

PRODID = "-//The Innovate Project//innovate-news//EN"


@functools.cache
def _timezone_block(tzid: str) -> bytes:
    # Covers every year an event could plausibly fall in; computing it is slow, so once a run.
    zone = Timezone.from_tzid(tzid, first_date=dt.date(1990, 1, 1), last_date=dt.date(2060, 1, 1))
    data: bytes = zone.to_ical()
    return data


def vevent(
    uid: str,
    title: str,
    start: dt.datetime,
    end: dt.datetime | None,
    stamp: dt.datetime,
    url: str,
    description: str,
    location: str | None,
    tzid: str,
) -> bytes:
    """One VEVENT; times are written in the site's zone with a TZID, the stamp in UTC."""
    event = VEvent()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    event.add("dtstart", start.astimezone(_zone(tzid)))
    event.add("dtend", (end or start + dt.timedelta(hours=1)).astimezone(_zone(tzid)))
    event.add("summary", title)
    event.add("description", f"{description}\n\n{url}".strip())
    event.add("url", url)
    if location:
        event.add("location", location)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    data: bytes = event.to_ical()
    return data


def _zone(tzid: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tzid)


@functools.cache
def _calendar_frame(name: str, tzid: str, description: str) -> tuple[bytes, bytes]:
    """VCALENDAR's head (with METHOD:PUBLISH and the VTIMEZONE) and tail, made once a run."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", tzid)
    if description:
        calendar.add("x-wr-caldesc", description)
    head, _, tail = calendar.to_ical().rpartition(b"END:VCALENDAR")
    return head + _timezone_block(tzid), b"END:VCALENDAR" + tail


def write_calendar(
    handle: IO[bytes], name: str, tzid: str, events: Iterable[bytes], description: str = ""
) -> None:
    """A VCALENDAR with METHOD:PUBLISH, the VTIMEZONE, then each cached VEVENT."""
    head, tail = _calendar_frame(name, tzid, description)
    handle.write(head)
    for event in events:
        handle.write(event)
    handle.write(tail)
