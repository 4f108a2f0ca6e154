"""`send` against a relay's limits: a spent quota and the hourly cap stop the run with exit code 4,
say which limit and when to resume, and leave everyone else pending for the rerun."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from innovate_news.errors import ExitCode
from innovate_news.store.ledger import Ledger
from tests.support.servers import SmtpHandler, numbered, smtp_server, write_list

ENV = {"INNOVATE_NEWS_SECRET": "innovate-news-test-secret-0123456789"}
AT = "2026-11-25T12:00"
ISSUE = "2023-06-guidance-year"


def smtp_settings(project: Path, port: int, **extra: object) -> None:
    """Replace [providers.smtp] with a loopback server's settings."""
    values: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "security": "none", "concurrency": 1,
        "rate": 100000, "timeout": 2.0, "backoff": 0.01, "max_attempts": 3, **extra,
    }  # fmt: skip
    path = project / "innovate-news.toml"
    text = re.sub(r"(?ms)^\[providers\.smtp\]\n.*?(?=^\[|\Z)", "", path.read_text("utf-8"))
    lines = ["[providers.smtp]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


def send(run: Callable[..., Result], project: Path, people: Path) -> Result:
    return run(
        "send", "latest", "--provider", "smtp", "--subscribers", str(people), "--yes",
        "--now", AT, env=ENV,
    )  # fmt: skip


def test_a_spent_daily_quota_exits_4_and_the_rerun_sends_the_rest(
    project: Path, run: Callable[..., Result]
) -> None:
    people = write_list(project, 30)
    gmail = "550 5.4.5 Daily user sending limit exceeded. For more information - gsmtp"
    handler = SmtpHandler(quota_after=10, quota_reply=gmail, quota_stage="message")
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        first = send(run, project, people)
        assert first.exit_code == ExitCode.QUOTA and int(ExitCode.QUOTA) == 4, first.output
        assert "Stopped by the daily sending quota" in first.output
        assert "Daily user sending limit exceeded" in first.output
        assert "resume after" in first.output and "20 not handed over stay pending" in first.output
        counts = Ledger(project / ".innovate-news" / "ledger.sqlite3").counts(ISSUE)
        assert (counts["sent"], counts["pending"], counts["failed"]) == (10, 20, 0)
        handler.quota_after = None
        second = send(run, project, people)
    assert second.exit_code == 0, second.output
    assert numbered(handler.received()) == list(range(1, 31))


def test_the_hourly_cap_setting_stops_the_run_with_exit_4(
    project: Path, run: Callable[..., Result]
) -> None:
    people = write_list(project, 6)
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port, hourly_cap=4)
        first = send(run, project, people)
        second = send(run, project, people)
    assert first.exit_code == second.exit_code == ExitCode.QUOTA, first.output
    assert "Sent 4," in first.output and "Sent 0," in second.output
    assert "hourly cap of 4 messages" in first.output and "resume after" in first.output
    assert len(handler.messages) == 4


def test_a_learnt_per_connection_limit_is_reported(
    project: Path, run: Callable[..., Result]
) -> None:
    people = write_list(project, 12)
    handler = SmtpHandler(per_connection=5, limit_reply="421 4.7.0 too many messages in this "
                          "connection")  # fmt: skip
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        result = send(run, project, people)
    assert result.exit_code == 0, result.output
    assert "Learnt: 127.0.0.1" in result.output and "at most 5 messages per connection" in (
        result.output
    )
    assert numbered(handler.received()) == list(range(1, 13))


def test_hourly_cap_must_be_a_positive_whole_number(
    project: Path, run: Callable[..., Result]
) -> None:
    smtp_settings(project, 2525, hourly_cap=0)
    result = run("check", env=ENV)
    assert result.exit_code == ExitCode.ERROR and "hourly_cap" in result.output
