"""Scheduled sends through the library: send_at, the window's end between batches, and the
next window resuming the rest exactly once, on both sides of a clock change."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from innovate_news import api
from innovate_news.errors import ExitCode, NotDueError
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support.servers import SmtpHandler, numbered, smtp_server, write_list

SECRET = "innovate-news-test-secret-0123456789"
SLUG = "2026-scheduled-update"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def scheduled(project: Path, send_at: str, slug: str = SLUG) -> Path:
    path = project / "issues" / f"{slug}.md"
    path.write_text(
        f'---\nsubject: "Scheduled update"\ndate: 2026-01-05\nsend_at: {send_at}\n'
        "posts:\n  - working-with-stakeholders\n---\n\nHello.\n",
        encoding="utf-8",
    )
    return path


def configure(project: Path, port: int = 25, window: str | None = None) -> Settings:
    """Loopback SMTP, one hand-over at a time; `window` in [email] when given."""
    path = project / "innovate-news.toml"
    text = re.sub(r"(?ms)^\[providers\.smtp\]\n.*?(?=^\[|\Z)", "", path.read_text("utf-8"))
    if window:
        text = text.replace("[email]\n", f"[email]\nwindow = {json.dumps(window)}\n", 1)
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "concurrency": 1,
            "rate": 100000, "timeout": 2.0, "backoff": 0.01}  # fmt: skip
    text += "\n[providers.smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in smtp.items())
    path.write_text(text, encoding="utf-8")
    return api.load_settings(path)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    (project / "issues" / "2023-03-spring-briefing.md").unlink()  # the example: due long ago


# (send_at, the last minute open on Friday and the window's end, Monday's opening) in UTC:
# the end is 18:00 local and the opening 08:00 local, whichever side of the change.
CHANGES = {
    "BST to GMT": ("2026-10-23 09:00", utc(2026, 10, 23, 16, 59), utc(2026, 10, 23, 17, 0),
                   utc(2026, 10, 26, 8, 0)),
    "GMT to BST": ("2026-03-27 09:00", utc(2026, 3, 27, 17, 59), utc(2026, 3, 27, 18, 0),
                   utc(2026, 3, 30, 7, 0)),
}  # fmt: skip


@pytest.mark.parametrize("change", CHANGES)
def test_the_window_end_stops_between_batches_and_the_next_window_sends_the_rest_once(
    project: Path, change: str
) -> None:
    send_at, last_minute, end, monday = CHANGES[change]
    scheduled(project, send_at)
    people = write_list(project, 30)
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        settings = configure(project, port, "Mon-Fri 08:00-18:00")
        # The window ends once ten copies have gone: the clock moves as the relay receives.
        clock = lambda: end if sum(handler.received().values()) >= 10 else last_minute  # noqa: E731
        first = api.send_due(settings, clock=clock, provider="smtp", subscribers=people)
        assert first.due == [SLUG] and first.exit_code == ExitCode.WINDOW
        assert int(ExitCode.WINDOW) == 5
        summary = first.runs[0][1]
        assert summary.sent == 10 and "outside the send window" in summary.window
        counts = Ledger.open(settings).counts(SLUG)
        assert (counts["sent"], counts["pending"], counts["failed"]) == (10, 20, 0)

        # Monday, one minute before 08:00 local: due, but the window is still closed.
        early = api.send_due(settings, now=monday - dt.timedelta(minutes=1), provider="smtp",
                             subscribers=people)  # fmt: skip
        assert early.due == [SLUG] and not early.runs and "opens next" in early.closed
        assert early.exit_code == ExitCode.OK

        resumed = api.send_due(settings, now=monday, provider="smtp", subscribers=people)
        assert resumed.exit_code == ExitCode.OK and resumed.runs[0][1].sent == 20
        after = api.send_due(settings, now=monday, provider="smtp", subscribers=people)
        assert after.due == [] and after.runs == []
    assert numbered(handler.received()) == list(range(1, 31))  # each exactly once


def test_only_issues_whose_time_has_come_are_sent(project: Path) -> None:
    scheduled(project, "2026-03-29 01:30")  # in the spring-forward gap: 02:30 BST, 01:30 UTC
    scheduled(project, "2026-10-25 01:30", slug="2026-later-update")  # twice: first, 00:30 UTC
    people = write_list(project, 3)
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        settings = configure(project, port)
        before = api.send_due(settings, now=utc(2026, 3, 29, 1, 29), provider="smtp",
                              subscribers=people)  # fmt: skip
        assert before.due == [] and not handler.received()
        report = api.schedule_status(settings, now=utc(2026, 3, 29, 1, 29))
        assert report["next"]["issue"] == SLUG and report["next"]["send_at"].endswith("+01:00")
        assert report["window"] is None and report["window_open"]

        first = api.send_due(settings, now=utc(2026, 10, 25, 0, 29), provider="smtp",
                             subscribers=people)  # fmt: skip
        assert first.due == [SLUG] and first.runs[0][1].sent == 3
        both = api.send_due(settings, now=utc(2026, 10, 25, 0, 30), provider="smtp",
                            subscribers=people)  # fmt: skip
        assert both.due == ["2026-later-update"] and both.runs[0][1].sent == 3
        report = api.schedule_status(settings, now=utc(2026, 10, 25, 0, 30))
    assert [e["progress"] for e in report["issues"]] == ["sent", "sent"]
    assert report["due"] == [] and report["next"] is None
    assert sum(handler.received().values()) == 6


def test_an_issue_another_run_is_sending_is_left_to_it(project: Path, settings: Settings) -> None:
    scheduled(project, "2026-01-05 09:00")
    people = write_list(project, 3)
    with Ledger.open(settings) as ledger, ledger.lock(SLUG):
        result = api.send_due(settings, now=utc(2026, 1, 6), provider="outbox",
                              subscribers=people)  # fmt: skip
    assert result.busy == [SLUG] and result.runs == [] and result.exit_code == ExitCode.OK
    assert not (project / "outbox").exists()


def test_sending_a_scheduled_issue_early_by_hand_needs_force(
    project: Path, settings: Settings
) -> None:
    path = scheduled(project, "2026-12-01 09:00")
    people = write_list(project, 2)
    with pytest.raises(NotDueError) as refused:
        api.send(settings, SLUG, provider="outbox", subscribers=people, now=utc(2026, 11, 30))
    assert str(refused.value).startswith(f"{path}:4: scheduled for 2026-12-01 09:00 GMT")
    assert "--force" in str(refused.value) and not (project / "outbox").exists()
    dry = api.send(settings, SLUG, provider="outbox", subscribers=people, dry_run=True,
                   now=utc(2026, 11, 30))  # fmt: skip
    assert dry.rehearsed == 2
    forced = api.send(settings, SLUG, provider="outbox", subscribers=people, force=True,
                      now=utc(2026, 11, 30))  # fmt: skip
    assert forced.sent == 2  # recorded: when its time comes, --due has nothing left to send
    assert api.send_due(settings, now=utc(2026, 12, 2), subscribers=people).due == []
