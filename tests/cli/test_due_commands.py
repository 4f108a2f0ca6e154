"""`send --due` and `status` without ISSUE, as a scheduler and an editor run them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from innovate_news.errors import ExitCode
from tests.support.servers import write_list

EXAMPLE = "2023-03-spring-briefing"  # the example project's scheduled issue
SLUG = "2026-12-winter-update"


def scheduled(project: Path, send_at: str = "2026-12-01 09:00") -> None:
    (project / "issues" / f"{SLUG}.md").write_text(
        f'---\nsubject: "Winter update"\ndate: 2026-11-30\nsend_at: {send_at}\n'
        "posts:\n  - working-with-stakeholders\n---\n\nHello.\n",
        encoding="utf-8",
    )


def with_window(project: Path, window: str) -> None:
    path = project / "innovate-news.toml"
    text = path.read_text("utf-8").replace("[email]\n", f'[email]\nwindow = "{window}"\n', 1)
    path.write_text(text, encoding="utf-8")


def copies(project: Path, slug: str) -> int:
    return len(list((project / "outbox" / slug).glob("*.eml")))


def test_the_example_scheduled_issue_goes_out_with_due_and_only_once(
    project: Path, run: Callable[..., Result]
) -> None:
    write_list(project, 4)
    shown = run("status", "--now", "2026-11-25T12:00")
    assert shown.exit_code == 0, shown.output
    assert f"Tue 2023-03-21 09:00 GMT  {EXAMPLE}  not started  due" in shown.output
    # No --yes and no terminal: a scheduled send never asks.
    first = run("send", "--due", "--now", "2026-11-25T12:00")
    assert first.exit_code == 0, first.output
    assert f"{EXAMPLE} is due." in first.output and copies(project, EXAMPLE) == 4
    again = run("send", "--due", "--now", "2026-11-25T12:00")
    assert again.exit_code == 0 and "Nothing due" in again.output
    assert f"{EXAMPLE}  sent" in run("status", "--now", "2026-11-25T12:00").output


def test_due_waits_for_send_at_and_for_the_window(
    project: Path, run: Callable[..., Result]
) -> None:
    (project / "issues" / f"{EXAMPLE}.md").unlink()
    scheduled(project)
    with_window(project, "Mon-Fri 08:00-18:00")
    write_list(project, 3)
    before = run("send", "--due", "--now", "2026-12-01T08:59")
    assert before.exit_code == 0 and "Nothing due" in before.output
    status = run("status", "--now", "2026-12-01T08:59")
    assert f"Next due: {SLUG} at Tue 2026-12-01 09:00 GMT." in status.output
    assert "Send window: Mon-Fri 08:00-18:00 (Europe/London): open now." in status.output

    saturday = run("send", "--due", "--now", "2026-12-05T10:00")
    assert saturday.exit_code == 0, saturday.output
    assert f"Due but not sent now ({SLUG}): outside the send window" in saturday.output
    assert "opens next at Mon 2026-12-07 08:00 GMT" in saturday.output
    assert not (project / "outbox").exists()
    report = json.loads(run("status", "--json", "--now", "2026-12-05T10:00").output)
    assert report["due"] == [SLUG] and report["window_open"] is False
    assert report["window_opens"] == "2026-12-07T08:00:00+00:00"

    dry = run("send", "--due", "--dry-run", "--now", "2026-12-07T08:00")
    assert dry.exit_code == 0 and f"Due now: {SLUG}." in dry.output
    assert not (project / "outbox").exists()
    monday = run("send", "--due", "--now", "2026-12-07T08:00")
    assert monday.exit_code == 0, monday.output
    assert copies(project, SLUG) == 3


def test_sending_a_scheduled_issue_early_by_hand_is_refused_without_force(
    project: Path, run: Callable[..., Result]
) -> None:
    scheduled(project)
    write_list(project, 2)
    refused = run("send", "latest", "--yes", "--now", "2026-11-30T12:00")
    assert refused.exit_code == ExitCode.ERROR
    assert f"{SLUG}.md:4: scheduled for 2026-12-01 09:00 GMT (send_at), not due" in refused.output
    assert not (project / "outbox").exists()
    forced = run("send", "latest", "--yes", "--force", "--now", "2026-11-30T12:00")
    assert forced.exit_code == 0 and copies(project, SLUG) == 2
    on_time = run("send", "latest", "--yes", "--now", "2026-12-01T09:00")
    assert on_time.exit_code == 0 and "Nothing to send." in on_time.output


def test_due_and_an_issue_do_not_mix(project: Path, run: Callable[..., Result]) -> None:
    both = run("send", "latest", "--due")
    assert both.exit_code == ExitCode.USAGE and "give no ISSUE" in both.output
    neither = run("send", "--yes")
    assert neither.exit_code == ExitCode.USAGE and "or --due" in neither.output
    assert run("send", "--due", "--to", "a@example.org").exit_code == ExitCode.USAGE


def test_a_bad_send_at_or_window_is_reported_where_it_is(
    project: Path, run: Callable[..., Result]
) -> None:
    scheduled(project, "2026-12-32 09:00")
    bad = run("status")
    assert bad.exit_code == ExitCode.ERROR
    assert f"{SLUG}.md:4: send_at " in bad.output and "2026-12-01 09:00" in bad.output
    scheduled(project, "2026-12-01")
    assert f"{SLUG}.md:4: send_at needs a time of day" in run("status").output
    scheduled(project)
    with_window(project, "Mon-Fry 08:00-18:00")
    window = run("status")
    assert window.exit_code == ExitCode.ERROR
    assert "[email] window unknown day 'Fry'" in window.output
