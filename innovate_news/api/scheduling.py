"""Scheduled sends: every issue whose send_at has come, inside `[email] window`, and a report
of what is scheduled (for `status`)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from innovate_news.api.publishing import send
from innovate_news.api.subscribers import Notify
from innovate_news.errors import ExitCode, IssueLockedError

if TYPE_CHECKING:
    from innovate_news.content.issues import Issue
    from innovate_news.delivery.campaign import Confirm, Progress
    from innovate_news.delivery.sender import SendSummary
    from innovate_news.schedule import Clock, Gate
    from innovate_news.settings import Settings
    from innovate_news.store.ledger import Ledger

# A stop of one issue's run that ends the whole --due run: the next issue would meet it too.
_SEVERITY = (ExitCode.INTERRUPTED, ExitCode.QUOTA, ExitCode.WINDOW, ExitCode.FAILED_RECIPIENTS)


@dataclass
class DueRun:
    """What `send_due` found and did."""

    due: list[str] = field(default_factory=list)  # due and not fully sent, oldest send_at first
    runs: list[tuple[str, SendSummary]] = field(default_factory=list)  # each issue's send
    busy: list[str] = field(default_factory=list)  # another run holds their send lock
    closed: str = ""  # the window was closed before the next issue started: why, when it opens

    @property
    def exit_code(self) -> ExitCode:
        codes = {summary.exit_code for _, summary in self.runs}
        return next((code for code in _SEVERITY if code in codes), ExitCode.OK)


def send_due(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    clock: Clock | None = None,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    notify: Notify | None = None,
    **options: Any,
) -> DueRun:
    """Send every issue whose send_at has come and that is not fully sent, oldest first; never
    asks (`confirm`, if given, is only shown each plan). Inside `[email] window` only: a run
    reaching the window's end stops cleanly, the rest pending for the next run in the window.

    `clock` tells the time for the window checks (default: `now` if given, else the real
    clock); `options` are `send`'s (provider, subscribers, limit, ...).
    """
    clock = clock or (_utcnow if now is None else _fixed(now))
    gate = _gate(settings, clock)
    stop = stop or threading.Event()
    result = DueRun(due=[entry["issue"] for entry in _entries(settings, clock()) if entry["due"]])
    for slug in result.due:
        if stop.is_set():
            break
        if gate is not None and (why := gate.closed()):
            result.closed = why
            break
        try:
            summary = send(
                settings, slug, gate=gate, confirm=confirm, progress=progress, stop=stop,
                notify=notify, now=clock(), **options,
            )  # fmt: skip
        except IssueLockedError:
            result.busy.append(slug)  # an earlier run still sending it: that run finishes it
            continue
        result.runs.append((slug, summary))
        if summary.exit_code in _SEVERITY[:3] or summary.stopped:
            break
    return result


def schedule_status(settings: Settings, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Every scheduled issue (send_at, due or not, how far sent), what is due next, and the
    send window: whether it is open at `now` and when it opens next."""
    when = now or _utcnow()
    entries = _entries(settings, when)
    gate = _gate(settings, lambda: when)
    upcoming = [e for e in entries if not e["due"] and e["progress"] != "sent"]
    return {
        "timezone": settings.timezone.key,
        "now": when.astimezone(settings.timezone).isoformat(),
        "window": settings.email.get("window"),
        "window_open": gate is None or gate.closed() is None,
        "window_opens": None if gate is None or not gate.closed() else _opens(gate, when),
        "issues": entries,
        "due": [e["issue"] for e in entries if e["due"]],
        "next": upcoming[0] if upcoming else None,
    }


def _entries(settings: Settings, now: dt.datetime) -> list[dict[str, Any]]:
    """Scheduled issues, oldest send_at first: due means its time has come and some of the
    list has not been handed it (never sent, or pending or deferred rows left)."""
    from innovate_news.content.issues import load_issues
    from innovate_news.store.ledger import Ledger

    scheduled = sorted(
        (i for i in load_issues(settings) if i.send_at is not None),
        key=lambda i: (i.send_at, i.slug),
    )
    with Ledger.open(settings) as ledger:
        return [_entry(settings, ledger, issue, now) for issue in scheduled]


def _entry(settings: Settings, ledger: Ledger, issue: Issue, now: dt.datetime) -> dict[str, Any]:
    assert issue.send_at is not None
    counts = ledger.counts(issue.slug) if ledger.has_snapshot(issue.slug) else None
    if counts is None:
        progress = "not started"
    elif counts["pending"] + counts["deferred"] + counts["sending"]:
        progress = "partly sent"
    else:
        progress = "sent"
    return {
        "issue": issue.slug,
        "subject": issue.subject,
        "send_at": issue.send_at.astimezone(settings.timezone).isoformat(),
        "due": issue.send_at <= now and progress != "sent",
        "progress": progress,
        "counts": counts,
    }


def _gate(settings: Settings, clock: Clock) -> Gate | None:
    from innovate_news.schedule import Gate, parse_window

    text = settings.email.get("window")
    return Gate(parse_window(text), settings.timezone, clock) if text else None


def _opens(gate: Gate, now: dt.datetime) -> str:
    return gate.window.next_start(now, gate.zone).astimezone(gate.zone).isoformat()


def _fixed(now: dt.datetime) -> Clock:
    return lambda: now


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
