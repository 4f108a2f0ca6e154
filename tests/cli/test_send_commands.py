"""`send`, `status` and `subscribers check` end to end: the CLI, the ledger and real servers."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news.store.ledger import Ledger
from tests.support import REPO
from tests.support.crashes import CRASH_EXIT, send_command
from tests.support.servers import (
    PASSWORD,
    POSTMARK_TOKEN,
    USER,
    Api,
    Certificates,
    SmtpHandler,
    api_server,
    numbered,
    smtp_server,
    write_list,
)

SECRET = "innovate-news-test-secret-0123456789"
AT = "2026-11-25T12:00"  # the example posts are all published by then
ISSUE = "2023-06-guidance-year"  # the latest example issue
ENV = {"INNOVATE_NEWS_SECRET": SECRET}


def configure(project: Path, table: str, **values: object) -> None:
    """Replace one [table] of the project's settings."""
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(rf"(?ms)^\[{re.escape(table)}\]\n.*?(?=^\[|\Z)", "", text)
    lines = [f"\n[{table}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def smtp_settings(project: Path, port: int, **extra: object) -> None:
    values: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "security": "none", "concurrency": 1,
        "rate": 100000, "timeout": 2.0, "backoff": 0.01, "max_attempts": 3,
    }  # fmt: skip
    values.update(extra)
    configure(project, "providers.smtp", **values)


def ledger_of(project: Path) -> Ledger:
    return Ledger(project / ".innovate-news" / "ledger.sqlite3")


def send(run: Callable[..., Result], project: Path, *args: str, **kw: object) -> Result:
    """`innovate-news send` with the example list and a fixed clock, unless args say otherwise."""
    extra: list[str] = []
    if "--subscribers" not in args:
        extra += ["--subscribers", str(project / "subscribers.example.csv")]
    if "--now" not in args:
        extra += ["--now", AT]
    return run("send", *args, *extra, **kw)


def smtp_send_args(subscribers: Path) -> tuple[str, ...]:
    """`send latest` through SMTP to `subscribers`, confirmed, at the fixed clock."""
    return (
        "send",
        "latest",
        "--provider",
        "smtp",
        "--subscribers",
        str(subscribers),
        "--yes",
        "--now",
        AT,
    )


def cli_process(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The real command in its own process (for crashes and signals)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "innovate_news",
            "--config",
            str(project / "innovate-news.toml"),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV, **(env or {})},
        cwd=project,
    )


@pytest.fixture
def hundred(project: Path) -> Path:
    return write_list(project, 100)


def test_send_latest_to_the_example_list_through_the_outbox(
    project: Path, run: Callable[..., Result]
) -> None:
    result = send(run, project, "latest", "--provider", "outbox", "--yes")
    assert result.exit_code == 0, result.output
    assert "To send:    17" in result.output and "Sent 17, failed 0" in result.output
    files = sorted((project / "outbox" / ISSUE).glob("*.eml"))
    assert len(files) == 17
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(files[0].read_bytes())
    assert parsed["To"].addresses[0].addr_spec == files[0].stem
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    again = send(run, project, "latest", "--provider", "outbox", "--yes")
    assert again.exit_code == 0 and "Nothing to send." in again.output, again.output
    assert "17 already sent" in again.output
    assert ledger_of(project).counts(ISSUE)["sent"] == 17


def test_a_non_interactive_send_without_yes_refuses(
    project: Path, run: Callable[..., Result]
) -> None:
    result = send(run, project, "latest", "--provider", "outbox")
    assert result.exit_code == 2 and "--yes" in result.output
    assert not (project / "outbox").exists()
    assert ledger_of(project).counts(ISSUE)["pending"] == 0


def test_dry_run_builds_every_copy_and_sends_nothing(
    project: Path, run: Callable[..., Result]
) -> None:
    result = send(run, project, "latest", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: built 17 copies" in result.output and "Provider:   outbox" in result.output
    assert not (project / "outbox").exists()
    assert sum(ledger_of(project).counts(ISSUE).values()) == 0


def test_test_send_is_marked_and_kept_apart_from_the_list(
    project: Path, run: Callable[..., Result]
) -> None:
    result = send(run, project, "latest", "--to", "Editor@Example.COM", "--yes")
    assert result.exit_code == 0, result.output
    (copy,) = (project / "outbox" / ISSUE / "test").glob("*.eml")
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(copy.read_bytes())
    assert parsed["Subject"].lower().startswith("[test]")
    assert copy.name == "Editor@example.com.eml"
    ledger = ledger_of(project)
    assert sum(ledger.counts(ISSUE).values()) == 0
    assert [t["address"] for t in ledger.test_sends(ISSUE)] == ["Editor@example.com"]
    status = run("status", ISSUE)
    assert "never sent" in status.output and "Test sends: 1" in status.output


def test_invalid_rows_stop_the_send_unless_skipped(
    project: Path, run: Callable[..., Result]
) -> None:
    csv = project / "subscribers.example.csv"
    csv.write_text(
        csv.read_text(encoding="utf-8") + "not-an-address,Nobody,subscribed,\n"
        "ok@example.org,Ok,maybe,\n",
        encoding="utf-8",
    )
    refused = send(run, project, "latest", "--yes")
    assert refused.exit_code == 1
    assert "subscribers.example.csv:22: invalid email 'not-an-address'" in refused.output
    assert "subscribers.example.csv:23: unknown status 'maybe'" in refused.output
    assert not (project / "outbox").exists()
    skipped = send(run, project, "latest", "--yes", "--skip-invalid")
    assert skipped.exit_code == 0 and "Skipping 2 invalid row(s)" in skipped.output
    assert len(list((project / "outbox" / ISSUE).glob("*.eml"))) == 17


def test_a_list_without_an_email_column_aborts(project: Path, run: Callable[..., Result]) -> None:
    (project / "list.csv").write_text("name,status\nAmelia,subscribed\n", encoding="utf-8")
    result = send(run, project, "latest", "--subscribers", str(project / "list.csv"), "--yes")
    assert result.exit_code == 1 and "no 'email' column" in result.output


def test_subscribers_check_reports_rows_duplicates_and_suppressions(
    project: Path, run: Callable[..., Result]
) -> None:
    csv = project / "subscribers.example.csv"
    csv.write_text(
        "\ufeff"
        + csv.read_text(encoding="utf-8")
        + " amelia.hart@EXAMPLE.ORG ,Dup,subscribed,\nx@y,Bad,subscribed,\n",
        encoding="utf-8",
    )
    Ledger(project / ".innovate-news" / "ledger.sqlite3").suppress(
        "ben.okoro@example.com", "unsubscribed", "test"
    )
    result = run("subscribers", "check", str(csv))
    assert result.exit_code == 1
    assert (
        "subscribers.example.csv:22: warning: amelia.hart@EXAMPLE.ORG repeats row 2"
        in result.output
    )
    assert "subscribers.example.csv:23: invalid email 'x@y'" in result.output
    assert (
        "1 suppressed in the ledger" in result.output
        and "Would receive an issue: 16" in result.output
    )


def test_suppressions_win_over_the_list(project: Path, run: Callable[..., Result]) -> None:
    ledger_of(project).suppress("amelia.hart@example.org", "unsubscribed", "one-click")
    result = send(run, project, "latest", "--yes")
    assert result.exit_code == 0 and "1 suppressed" in result.output
    assert not (project / "outbox" / ISSUE / "amelia.hart@example.org.eml").exists()
    assert len(list((project / "outbox" / ISSUE).glob("*.eml"))) == 16


def test_limit_then_include_new(project: Path, run: Callable[..., Result]) -> None:
    first = send(run, project, "latest", "--yes", "--limit", "5")
    assert first.exit_code == 0 and "Held back:  12 by --limit" in first.output
    assert ledger_of(project).counts(ISSUE) == {
        **ledger_of(project).counts(ISSUE),
        "sent": 5,
        "pending": 12,
    }
    csv = project / "subscribers.example.csv"
    csv.write_text(
        csv.read_text(encoding="utf-8") + "newcomer@example.org,New,subscribed,\n", encoding="utf-8"
    )
    second = send(run, project, "latest", "--yes")
    assert "1 new subscriber(s)" in second.output and "Sent 12," in second.output
    assert not (project / "outbox" / ISSUE / "newcomer@example.org.eml").exists()
    third = send(run, project, "latest", "--yes", "--include-new")
    assert "Sent 1," in third.output
    assert (project / "outbox" / ISSUE / "newcomer@example.org.eml").exists()
    assert ledger_of(project).counts(ISSUE)["sent"] == 18


def test_status_json_lists_failed_and_unknown_with_their_errors(
    project: Path, run: Callable[..., Result], hundred: Path
) -> None:
    def script(stage: str, address: str, attempt: int) -> str | None:
        return "550 5.1.1 no such user" if address == "r004@example.org" else None

    handler = SmtpHandler(script=script)
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        result = send(
            run,
            project,
            "latest",
            "--provider",
            "smtp",
            "--subscribers",
            str(hundred),
            "--yes",
            env=ENV,
        )
    assert result.exit_code == 3, result.output
    assert "See who and why: innovate-news status" in result.output
    report = json.loads(run("status", ISSUE, "--json").output)
    assert report["counts"]["sent"] == 99 and report["counts"]["failed"] == 1
    (failed,) = report["recipients"]
    assert failed["address"] == "r004@example.org" and "550" in failed["last_error"]
    assert len(handler.messages) == 99


def test_real_providers_refuse_without_the_signing_secret(
    project: Path, run: Callable[..., Result], hundred: Path
) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        result = send(
            run, project, "latest", "--provider", "smtp", "--yes", env={"INNOVATE_NEWS_SECRET": ""}
        )
    assert result.exit_code == 1 and "INNOVATE_NEWS_SECRET" in result.output
    assert handler.messages == []


def test_a_subject_with_crlf_sends_nothing(
    project: Path, run: Callable[..., Result], hundred: Path
) -> None:
    issue = project / "issues" / "2024-01-injected.md"
    issue.write_text(
        '---\nsubject: "Hello\\r\\nBcc: everyone@example.org"\ndate: 2024-01-10\n'
        "posts: []\n---\n\nHi.\n",
        encoding="utf-8",
    )
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        result = send(
            run,
            project,
            "2024-01-injected",
            "--provider",
            "smtp",
            "--subscribers",
            str(hundred),
            "--yes",
            env=ENV,
        )
    assert result.exit_code == 1
    assert "subject" in result.output.lower()
    assert handler.messages == []
    assert sum(ledger_of(project).counts("2024-01-injected").values()) == 0


def test_killed_after_50_accepted_leaves_50_unknown_and_a_rerun_sends_51_to_100(
    project: Path, hundred: Path
) -> None:
    handler = SmtpHandler()
    args = smtp_send_args(hundred)
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        config = project / "innovate-news.toml"
        crashed = subprocess.Popen(
            send_command(str(config), ISSUE, "smtp", str(hundred), 50, AT),
            cwd=REPO,  # where `tests.support.crashes` is importable
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = crashed.communicate(timeout=60)
        assert crashed.returncode == CRASH_EXIT, out + err
        assert numbered(handler.received()) == list(range(1, 51))
        rerun = cli_process(project, *args)
        out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, out + err
    assert "Not resent: 1 unknown" in out and "Sent 50," in out
    assert numbered(handler.received()) == list(range(1, 101))  # each exactly once
    ledger = ledger_of(project)
    (unknown,) = ledger.deliveries(ISSUE, ("unknown",))
    assert unknown.address == "r050@example.org"
    assert ledger.counts(ISSUE)["sent"] == 99


def test_two_concurrent_sends_of_one_issue_deliver_each_copy_once(
    project: Path, hundred: Path
) -> None:
    handler = SmtpHandler()
    args = smtp_send_args(hundred)
    with smtp_server(handler) as port:
        smtp_settings(project, port, rate=40)  # 2.5 s of sending: the two runs overlap
        first, second = cli_process(project, *args), cli_process(project, *args)
        results = [p.communicate(timeout=60) for p in (first, second)]
    assert sorted((first.returncode, second.returncode)) == [0, 1], results
    processes = (first, second)
    refused = next(err for (_, err), p in zip(results, processes, strict=True) if p.returncode)
    assert re.search(r"is being sent by pid \d+ on \S+", refused), refused
    assert numbered(handler.received()) == list(range(1, 101))
    assert ledger_of(project).counts(ISSUE)["sent"] == 100


def test_ctrl_c_finishes_the_hand_over_records_it_and_exits_130(
    project: Path, hundred: Path
) -> None:
    handler = SmtpHandler()
    args = smtp_send_args(hundred)
    with smtp_server(handler) as port:
        smtp_settings(project, port, rate=25, concurrency=2)
        process = cli_process(project, *args)
        deadline = time.monotonic() + 30
        while len(handler.messages) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, out + err
        assert "Resume with: innovate-news send" in err
        counts = ledger_of(project).counts(ISSUE)
        assert counts["sending"] == 0 and counts["unknown"] == 0
        assert counts["sent"] == len(handler.messages) < 100
        rerun = cli_process(project, *args)
        rerun.communicate(timeout=60)
    assert rerun.returncode == 0
    assert numbered(handler.received()) == list(range(1, 101))


def test_secrets_appear_nowhere(
    project: Path, run: Callable[..., Result], tmp_path: Path, hundred: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    env = {
        **ENV,
        "INNOVATE_NEWS_SMTP_PASSWORD": PASSWORD,
        "INNOVATE_NEWS_POSTMARK_TOKEN": POSTMARK_TOKEN,
    }
    outputs: list[Result] = []
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        smtp_settings(
            project, port, security="starttls", username=USER, ca_file=str(certificates.ca_file)
        )
        outputs.append(
            send(
                run,
                project,
                "latest",
                "--provider",
                "smtp",
                "--subscribers",
                str(hundred),
                "--yes",
                env=env,
            )
        )
        bad = {**env, "INNOVATE_NEWS_SMTP_PASSWORD": "another-secret-password"}
        outputs.append(
            send(
                run,
                project,
                "latest",
                "--provider",
                "smtp",
                "--to",
                "x@example.org",
                "--yes",
                env=bad,
            )
        )
    api = Api(canned=[])
    with api_server(api) as server:
        configure(project, "providers.postmark", base_url=server.url, backoff=0.01)
        outputs.append(
            send(
                run,
                project,
                "latest",
                "--provider",
                "postmark",
                "--to",
                "y@example.org",
                "--yes",
                env=env,
            )
        )
    outputs.append(
        send(
            run,
            project,
            "latest",
            "--provider",
            "outbox",
            "--to",
            "z@example.org",
            "--yes",
            env=env,
        )
    )
    outputs.append(run("status", ISSUE, "--json"))
    assert outputs[0].exit_code == 0 and len(handler.messages) == 100
    assert outputs[1].exit_code == 1 and "535" in outputs[1].output
    assert len(api.delivered) == 1
    secrets = [SECRET, PASSWORD, POSTMARK_TOKEN, "another-secret-password"]
    stored = [p for p in project.rglob("*") if p.is_file() and ".innovate-news" in p.parts]
    stored += list((project / "outbox").rglob("*.eml"))
    for secret in secrets:
        for result in outputs:
            assert secret not in result.output
        for path in stored:
            assert secret.encode() not in path.read_bytes(), path
        for _, data in handler.messages:
            assert secret.encode() not in data
