"""The ledger says only what is true, through the command line: settings that cannot be sent are
refused up front, an issue edited mid-send is noticed, and people who left are counted as such.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli.test_send_commands import ENV, ISSUE, ledger_of, send
from tests.support.servers import write_list

Run = Callable[..., Result]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(start))


def subjects(project: Path) -> list[str]:
    parser = email.parser.BytesParser(policy=email.policy.default)
    files = sorted((project / "outbox" / ISSUE).glob("*.eml"))
    return [str(parser.parsebytes(f.read_bytes())["Subject"]) for f in files]


# Build before you mark -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "bad", "says"),
    [
        (
            'unsubscribe_url = "https://example.org/innovate/unsubscribe"',
            'unsubscribe_url = "https://exämple.org/innovate/désabonner"',
            "[email] unsubscribe_url must be ASCII, as mail headers need; write it as "
            "'https://xn--exmple-cua.org/innovate/d%C3%A9sabonner'",
        ),
        (
            'from = "The Innovate Project <news@example.org>"',
            'from = "The Innovate Project <news@exämple.org>"',
            "[email] from 'news@exämple.org': write the domain in its ASCII form: "
            "news@xn--exmple-cua.org",
        ),
        (
            'unsubscribe_mailto = "unsubscribe@example.org"',
            'unsubscribe_mailto = "désinscription@example.org"',
            "[email] unsubscribe_mailto 'désinscription@example.org': the part before @ must "
            "be ASCII",
        ),
    ],
)
def test_check_and_send_refuse_a_setting_no_header_can_carry_naming_its_line(
    project: Path, run: Run, line: str, bad: str, says: str
) -> None:
    config = project / "innovate-news.toml"
    edit(config, line, bad)
    where = f"innovate-news.toml:{line_of(config, bad.split(' =')[0])}: "
    checked = run("check")
    sent = send(run, project, "latest", "--yes", env=ENV)
    for result in (checked, sent):
        assert result.exit_code == 1, result.output
        assert where + says in result.output
        assert "Traceback" not in result.output and "UnicodeEncodeError" not in result.output
    assert not (project / "outbox").exists()
    assert sum(ledger_of(project).counts(ISSUE).values()) == 0


# An issue changed after a partial send ------------------------------------------------------


def test_an_issue_edited_after_a_partial_send_needs_accept_changes_and_status_tells_versions(
    project: Path, run: Run
) -> None:
    ten = str(write_list(project, 10))
    first = send(run, project, "latest", "--subscribers", ten, "--limit", "5", "--yes")
    assert first.exit_code == 0 and "Sent 5," in first.output, first.output
    old = "The guidance year: from research to practice"
    edit(project / "issues" / f"{ISSUE}.md", f'subject: "{old}"', f'subject: "CORRECTED: {old}"')
    refused = send(run, project, "latest", "--subscribers", ten, "--yes")
    assert refused.exit_code == 1, refused.output
    assert f"{ISSUE} changed after copies of it went out" in refused.output
    assert f"subject:   '{old}' -> 'CORRECTED: {old}'" in refused.output
    assert "preheader: unchanged" in refused.output and "--accept-changes" in refused.output
    assert ledger_of(project).counts(ISSUE)["pending"] == 5 and len(subjects(project)) == 5
    rest = send(run, project, "latest", "--subscribers", ten, "--yes", "--accept-changes")
    assert rest.exit_code == 0 and "Sent 5," in rest.output, rest.output
    assert "Changed:    since its first copies went out (sent as it is now):" in rest.output
    assert sorted(subjects(project)) == [f"CORRECTED: {old}"] * 5 + [old] * 5
    report = json.loads(run("status", ISSUE, "--json").output)
    assert [(v["subject"], v["counts"]) for v in report["versions"]] == [
        (old, {"sent": 5}), (f"CORRECTED: {old}", {"sent": 5}),
    ]  # fmt: skip
    shown = run("status", ISSUE).output
    assert f"{report['versions'][0]['digest'][:10]} '{old}': 5 sent" in shown
    assert f"{report['versions'][1]['digest'][:10]} 'CORRECTED: {old}': 5 sent" in shown
    again = send(run, project, "latest", "--subscribers", ten, "--yes")
    assert again.exit_code == 0 and "Nothing to send." in again.output


def test_a_body_edit_is_shown_line_by_line_and_a_dry_run_says_a_send_would_refuse(
    project: Path, run: Run
) -> None:
    ten = str(write_list(project, 10))
    first = send(run, project, "latest", "--subscribers", ten, "--limit", "3", "--yes")
    assert first.exit_code == 0, first.output
    edit(
        project / "issues" / f"{ISSUE}.md",
        "Places at the workshop are free but limited",
        "Places at the workshop are now fully booked",
    )
    dry = send(run, project, "latest", "--subscribers", ten, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Changed:    since its first copies went out (a send refuses it):" in dry.output
    assert "subject:   unchanged" in dry.output and "preheader: unchanged" in dry.output
    assert "line(s) of the text part changed:" in dry.output
    assert "- Places at the workshop are free but limited" in dry.output
    assert "+ Places at the workshop are now fully booked" in dry.output
    refused = send(run, project, "latest", "--subscribers", ten, "--yes")
    assert refused.exit_code == 1 and "now fully booked" in refused.output
    assert ledger_of(project).counts(ISSUE) == {**ledger_of(project).counts(ISSUE), "sent": 3}


# status and the plan count what is so -------------------------------------------------------


def test_people_who_left_after_the_snapshot_are_counted_as_such_not_pending(
    project: Path, run: Run
) -> None:
    ten = write_list(project, 10)
    first = send(run, project, "latest", "--subscribers", str(ten), "--limit", "5", "--yes")
    assert first.exit_code == 0, first.output
    ledger_of(project).suppress("r006@example.org", "complained", "webhook")
    edit(ten, "r007@example.org,Reader 7,subscribed,\n", "")  # taken off the list
    edit(ten, "r008@example.org,Reader 8,subscribed,", "r008@example.org,Reader 8,bounced,")
    erased = run("subscribers", "erase", "r009@example.org", "--subscribers", str(ten), "--yes")
    assert erased.exit_code == 0, erased.output
    left = {"removed": 1, "not_subscribed": 1, "suppressed": 1, "erased": 1}
    words = (
        "1 no longer on the list, 1 unsubscribed or bounced in the list, 1 suppressed since, "
        "1 erased"
    )
    dry = send(run, project, "latest", "--subscribers", str(ten), "--dry-run")
    assert f"not sent: {words}" in dry.output and "To send:    1 " in dry.output, dry.output
    report = json.loads(run("status", ISSUE, "--json", "--subscribers", str(ten)).output)
    assert report["left_out"] == left and report["total"] == 10
    assert (report["counts"]["sent"], report["counts"]["pending"]) == (5, 1)
    shown = run("status", ISSUE, "--subscribers", str(ten)).output
    assert f"{ISSUE}: 10 recipients: 1 pending, 5 sent" in shown
    assert f"Left out since the first send: {words}." in shown
    rest = send(run, project, "latest", "--subscribers", str(ten), "--yes")
    assert rest.exit_code == 0 and "Sent 1," in rest.output, rest.output
    report = json.loads(run("status", ISSUE, "--json", "--subscribers", str(ten)).output)
    assert report["left_out"] == left and report["counts"]["pending"] == 0  # not pending forever
    # Without a list to compare with, the ledger's own suppressions still count.
    ten.unlink()
    report = json.loads(run("status", ISSUE, "--json").output)
    assert report["left_out"] == {"suppressed": 1, "erased": 1}
    assert report["counts"]["pending"] == 2
