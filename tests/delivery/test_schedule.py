"""The send window and send_at instants: local wall-clock rules, across BST and GMT."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from innovate_news.schedule import Gate, Window, due, instant, parse_window

LONDON = ZoneInfo("Europe/London")
# Europe/London in 2026: BST (UTC+1) from 29 March 01:00 UTC to 25 October 01:00 UTC.
BST_FROM = dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)
BST_UNTIL = dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def wall_clock(now: dt.datetime) -> dt.datetime:
    """London's local reading of `now`, worked out from the rule above, not from zoneinfo."""
    offset = dt.timedelta(hours=1) if BST_FROM <= now < BST_UNTIL else dt.timedelta(0)
    return (now + offset).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("Mon-Fri 08:00-18:00", {0, 1, 2, 3, 4}, dt.time(8), dt.time(18)),
        ("Mon,Wed 9:00-12:30", {0, 2}, dt.time(9), dt.time(12, 30)),
        ("sat 10:00 - 16:00", {5}, dt.time(10), dt.time(16)),
        ("daily 00:00-23:59", set(range(7)), dt.time(0), dt.time(23, 59)),
        ("Fri-Mon 07:00-09:00", {4, 5, 6, 0}, dt.time(7), dt.time(9)),
        ("Tuesday, Thu - Fri 08:00-18:00", {1, 3, 4}, dt.time(8), dt.time(18)),
    ],
)
def test_window_syntax(text: str, days: set[int], start: dt.time, end: dt.time) -> None:
    window = parse_window(text)
    assert (window.days, window.start, window.end) == (frozenset(days), start, end)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fry 08:00-18:00", "unknown day 'Fry'"),
        ("08:00-18:00", "days and a time span"),
        ("Mon 18:00-08:00", "end after it starts"),
        ("Mon 09:00-09:00", "end after it starts"),
        ("Mon 24:00-25:00", "not a time of day"),
        ("Mon, 08:00-18:00", "a day is missing"),
        ("Mon,,Tue 08:00-18:00", "a day is missing"),
        ("Mon-Fri 8-18", "days and a time span"),
    ],
)
def test_a_bad_window_says_what_would_fit(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_window(text)


WEEKDAYS = parse_window("Mon-Fri 08:00-18:00")


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        (utc(2026, 3, 27, 17, 59), True),  # Fri 17:59 GMT
        (utc(2026, 3, 27, 18, 0), False),  # Fri 18:00 GMT: the end is not inside
        (utc(2026, 3, 30, 6, 59), False),  # Mon 07:59 BST
        (utc(2026, 3, 30, 7, 0), True),  # Mon 08:00 BST, 07:00 UTC
        (utc(2026, 10, 23, 16, 59), True),  # Fri 17:59 BST
        (utc(2026, 10, 23, 17, 30), False),  # Fri 18:30 BST: closed though 17:30 UTC
        (utc(2026, 10, 26, 7, 59), False),  # Mon 07:59 GMT
        (utc(2026, 10, 26, 8, 0), True),  # Mon 08:00 GMT
    ],
)
def test_the_window_is_local_time_on_both_sides_of_a_clock_change(
    now: dt.datetime, open_: bool
) -> None:
    assert WEEKDAYS.open(now, LONDON) is open_


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (utc(2026, 3, 27, 18, 0), utc(2026, 3, 30, 7, 0)),  # GMT Friday to BST Monday
        (utc(2026, 10, 23, 17, 0), utc(2026, 10, 26, 8, 0)),  # BST Friday to GMT Monday
        (utc(2026, 10, 26, 8, 0), utc(2026, 10, 27, 8, 0)),  # open now: the next opening
    ],
)
def test_the_next_opening_across_a_clock_change(now: dt.datetime, opens: dt.datetime) -> None:
    assert WEEKDAYS.next_start(now, LONDON) == opens


def test_send_at_in_the_gap_moves_forward_and_a_repeated_time_is_the_first() -> None:
    # 01:30 on 29 March 2026 does not exist in London: read as 02:30 BST (01:30 UTC).
    assert instant(dt.datetime(2026, 3, 29, 1, 30), LONDON) == utc(2026, 3, 29, 1, 30)
    # 01:30 on 25 October 2026 happens twice: the first, in BST (00:30 UTC).
    assert instant(dt.datetime(2026, 10, 25, 1, 30), LONDON) == utc(2026, 10, 25, 0, 30)
    assert instant(dt.datetime(2026, 7, 1, 9, 0), LONDON) == utc(2026, 7, 1, 8, 0)
    assert not due(None, utc(2030, 1, 1))
    assert due(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 30))
    assert not due(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 29))


def test_a_gate_reads_its_clock_at_each_check() -> None:
    times = iter([utc(2026, 10, 23, 16, 59), utc(2026, 10, 23, 17, 0)])
    gate = Gate(WEEKDAYS, LONDON, lambda: next(times))
    assert gate.closed() is None
    why = gate.closed()
    assert why is not None and "Mon-Fri 08:00-18:00 (Europe/London)" in why
    assert "opens next at Mon 2026-10-26 08:00 GMT" in why


def windows() -> st.SearchStrategy[Window]:
    def span(start: int) -> st.SearchStrategy[tuple[int, int]]:
        return st.tuples(st.just(start), st.integers(min_value=start + 1, max_value=1439))

    return st.builds(
        lambda days, minutes: Window(
            frozenset(days), dt.time(*divmod(minutes[0], 60)), dt.time(*divmod(minutes[1], 60))
        ),
        st.sets(st.integers(min_value=0, max_value=6), min_size=1),
        st.integers(min_value=0, max_value=1438).flatmap(span),
    )


# Instants around both of 2026's clock changes, to the second.
AROUND = st.one_of(
    st.datetimes(dt.datetime(2026, 3, 20), dt.datetime(2026, 4, 6), timezones=st.just(dt.UTC)),
    st.datetimes(dt.datetime(2026, 10, 16), dt.datetime(2026, 11, 2), timezones=st.just(dt.UTC)),
)


@given(window=windows(), now=AROUND)
def test_open_agrees_with_the_local_wall_clock(window: Window, now: dt.datetime) -> None:
    local = wall_clock(now)
    expected = local.weekday() in window.days and window.start <= local.time() < window.end
    assert window.open(now, LONDON) is expected


@given(window=windows(), now=AROUND)
def test_the_next_opening_is_later_and_inside_the_window(window: Window, now: dt.datetime) -> None:
    opens = window.next_start(now, LONDON)
    # Within a week, or two when that day's whole span fell in the spring-forward gap.
    assert now < opens <= now + dt.timedelta(days=15)
    assert window.open(opens, LONDON)
    local = wall_clock(opens)
    # It opens at the window's start, unless that start was in the spring-forward gap.
    assert local.time() == window.start or opens == BST_FROM + (
        dt.datetime.combine(dt.date(2026, 3, 29), window.start) - dt.datetime(2026, 3, 29, 1)
    )
