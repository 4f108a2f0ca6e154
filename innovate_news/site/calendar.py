"""iCalendar (RFC 5545) for events: the calendar frame from icalendar, one VEVENT per event."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # TEXT may hold tabs and newlines only
PRODID = "-//The Innovate Project//innovate-news//EN"


Frame = tuple[bytes, bytes]


@functools.cache
def _timezone_block(tzid: str) -> bytes:
    from icalendar import Timezone  # only when a frame is made, not on every build

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
    """One VEVENT; times in the site's zone with its TZID, the stamp in UTC.

    Written line by line rather than through icalendar's Event: a build writes thousands of
    them and this is several times faster. The calendar frame and the VTIMEZONE, where the
    rules are subtle, still come from icalendar.
    """
    zone = ZoneInfo(tzid)
    finish = end or start + dt.timedelta(hours=1)
    lines = [
        "BEGIN:VEVENT",
        f"SUMMARY:{_text(title)}",
        f"DTSTART;TZID={tzid}:{start.astimezone(zone):%Y%m%dT%H%M%S}",
        f"DTEND;TZID={tzid}:{finish.astimezone(zone):%Y%m%dT%H%M%S}",
        f"DTSTAMP:{stamp.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
        f"UID:{_text(uid)}",
        f"DESCRIPTION:{_text(f'{description}{chr(10)}{chr(10)}{url}'.strip())}",
    ]
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    lines += [
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        f"URL:{url}",
        "END:VEVENT",
    ]
    return b"".join(_fold(line) for line in lines)


def _text(value: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and newline escaped; no other controls."""
    value = _CONTROLS.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> bytes:
    """A content line as bytes, folded at 75 octets without splitting a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    parts, start, limit = [], 0, 75
    while start < len(data):
        stop = min(start + limit, len(data))
        while stop < len(data) and data[stop] & 0xC0 == 0x80:  # a continuation byte
            stop -= 1
        parts.append(data[start:stop])
        start, limit = stop, 74  # continuation lines start with a space
    return b"\r\n ".join(parts) + b"\r\n"


@functools.cache
def frame(name: str, tzid: str, description: str = "") -> Frame:
    """VCALENDAR's head (with METHOD:PUBLISH and the VTIMEZONE) and tail.

    The build keeps frames in its cache: icalendar is imported only when one is new.
    """
    from icalendar import Calendar

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


def document(calendar_frame: Frame, events: Iterable[bytes]) -> bytes:
    """A VCALENDAR: the frame's head (METHOD:PUBLISH, the VTIMEZONE), each VEVENT, its tail."""
    head, tail = calendar_frame
    return b"".join([head, *events, tail])
