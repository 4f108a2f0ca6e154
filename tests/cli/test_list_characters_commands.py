"""Every character a list row or an issue subject holds is checked when it is read, so
`subscribers check`, `check` and `send` agree, and a send never stops half way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.cli.test_send_commands import AT, ENV, ISSUE, ledger_of, send, smtp_settings
from tests.support.servers import SmtpHandler, numbered, smtp_server, write_list

# Row number in the file (the header is row 1) -> the control character in that row's name.
CONTROLS = {12: "\x0b", 22: "\x1b", 32: "\x7f", 42: "\x9b", 52: "\x0c"}


def spoilt_list(project: Path) -> Path:
    path = write_list(project, 100)
    lines = path.read_text(encoding="utf-8").split("\n")
    for row, char in CONTROLS.items():
        lines[row - 1] = lines[row - 1].replace("Reader", f"Rea{char}der")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def row_errors(path: Path) -> list[str]:
    return [
        f"{path.name}:{row}: the name of r{row - 1:03d}@example.org contains the control "
        "character "
        f"U+{ord(char):04X}; remove it"
        for row, char in CONTROLS.items()
    ]


def test_control_characters_in_names_are_found_by_every_command_and_never_mid_send(
    project: Path, run: Callable[..., Result]
) -> None:
    path = spoilt_list(project)
    listed = run("subscribers", "check", "--subscribers", str(path))
    checked = run("check", "--subscribers", str(path), "--now", AT)
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        refused = send(
            run, project, "latest", "--provider", "smtp", "--subscribers", str(path), "--yes",
            env=ENV,
        )  # fmt: skip
        assert handler.messages == [] and sum(ledger_of(project).counts(ISSUE).values()) == 0
        skipped = send(
            run, project, "latest", "--provider", "smtp", "--subscribers", str(path), "--yes",
            "--skip-invalid", env=ENV,
        )  # fmt: skip
    for result in (listed, checked, refused):
        assert result.exit_code == 1, result.output
        assert all(line in result.output for line in row_errors(path)), result.output
    assert "5 invalid." in listed.output and "Would receive an issue: 95" in listed.output
    assert "5 invalid row(s): fix them, or pass --skip-invalid" in refused.output
    assert skipped.exit_code == 0, skipped.output
    assert "Skipping 5 invalid row(s)" in skipped.output and "Sent 95, failed 0" in skipped.output
    assert numbered(handler.received()) == [n for n in range(1, 101) if n + 1 not in CONTROLS]


def test_a_row_that_is_not_utf8_is_left_out_with_skip_invalid(
    project: Path, run: Callable[..., Result]
) -> None:
    path = write_list(project, 10)
    data = path.read_bytes().replace(b"Reader 4,", b"Reader \xe9\xe9,")
    path.write_bytes(data)
    listed = run("subscribers", "check", str(path))
    assert listed.exit_code == 1 and f"{path}:5: not UTF-8" in listed.output
    assert "Would receive an issue: 9" in listed.output
    refused = send(run, project, "latest", "--subscribers", str(path), "--yes")
    assert refused.exit_code == 1 and f"{path}:5: not UTF-8" in refused.output
    skipped = send(run, project, "latest", "--subscribers", str(path), "--yes", "--skip-invalid")
    assert skipped.exit_code == 0 and "Sent 9, failed 0" in skipped.output
    sent = sorted(p.name for p in (project / "outbox" / ISSUE).glob("*.eml"))
    assert len(sent) == 9 and "r004@example.org.eml" not in sent


def test_subscribers_check_takes_the_list_as_an_argument_or_an_option(
    project: Path, run: Callable[..., Result]
) -> None:
    path = write_list(project, 3)
    for args in ([str(path)], ["--subscribers", str(path)]):
        result = run("subscribers", "check", *args)
        assert result.exit_code == 0 and f"{path}: 3 rows" in result.output
    other = project / "other.csv"
    clash = run("subscribers", "check", str(path), "--subscribers", str(other))
    assert clash.exit_code == 2 and "give the list once" in clash.output


def test_a_control_character_in_an_issue_subject_is_refused_naming_the_field(
    project: Path, run: Callable[..., Result]
) -> None:
    issue = project / "issues" / "2024-01-escaped.md"
    issue.write_text(
        '---\ndate: 2024-01-10\nsubject: "\\e[31mRed alert"\npreheader: "Fine"\nposts: []\n'
        "---\n\nHi.\n",
        encoding="utf-8",
    )
    expected = "issues/2024-01-escaped.md:3: subject contains the control character U+001B"
    checked = run("check", "--now", AT)
    sent = send(run, project, "2024-01-escaped", "--dry-run")
    for result in (checked, sent):
        assert result.exit_code == 1 and expected in result.output, result.output
        assert "MJML" not in result.output


def test_an_import_refuses_the_rows_the_list_would_refuse(
    project: Path, run: Callable[..., Result]
) -> None:
    source = project / "incoming.csv"
    source.write_text(
        "email,name,consent_at\n"
        "ok@example.org,Ok Reader,2024-01-01T00:00:00Z\n"
        "tab@example.org,Tab\x0bReader,2024-01-01T00:00:00Z\n"
        "esc@example.org,Esc Reader,2024-01-01\x1b\n",
        encoding="utf-8",
    )
    listed = project / "imported.csv"
    refused = run("subscribers", "import", str(source), "--subscribers", str(listed))
    assert refused.exit_code == 1, refused.output
    assert "incoming.csv:3: the name of tab@example.org contains the control character U+000B" in (
        refused.output
    )
    assert "incoming.csv:4: the consent time of esc@example.org contains the control " in (
        refused.output
    )
    kept = run("subscribers", "import", str(source), "--subscribers", str(listed), "--skip-invalid")
    assert kept.exit_code == 0, kept.output
    checked = run("subscribers", "check", "--subscribers", str(listed))
    assert checked.exit_code == 0, checked.output  # what an import writes, the list accepts
    assert "ok@example.org" in listed.read_text(encoding="utf-8")
    assert "tab@example.org" not in listed.read_text(encoding="utf-8")
