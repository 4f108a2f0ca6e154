"""Everything a send needs from outside the project is checked before its plan is shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.cli.test_send_commands import ENV, ISSUE, configure, ledger_of, send, smtp_settings
from tests.support.servers import (
    PASSWORD,
    USER,
    Api,
    Certificates,
    SmtpHandler,
    api_server,
    smtp_server,
)


def smtp_with_login(project: Path, port: int, certificates: Certificates) -> None:
    smtp_settings(
        project, port, security="starttls", username=USER, ca_file=str(certificates.ca_file)
    )


def before_any_plan(result: Result) -> None:
    """The run stopped with a plain message: no plan, no Python class name, no traceback."""
    assert result.exit_code == 1, result.output
    assert "To send:" not in result.output and "Issue:" not in result.output
    assert "AuthError" not in result.output and "Traceback" not in result.output


def test_a_missing_smtp_password_is_found_before_the_plan(
    project: Path, run: Callable[..., Result], tmp_path: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        smtp_with_login(project, port, certificates)
        result = send(
            run, project, "latest", "--provider", "smtp", "--yes",
            env={**ENV, "INNOVATE_NEWS_SMTP_PASSWORD": ""},
        )  # fmt: skip
        test = send(
            run, project, "latest", "--provider", "smtp", "--to", "x@example.org", "--yes",
            env={**ENV, "INNOVATE_NEWS_SMTP_PASSWORD": ""},
        )  # fmt: skip
    for outcome in (result, test):
        before_any_plan(outcome)
        assert "[providers.smtp] username is set but INNOVATE_NEWS_SMTP_PASSWORD is not" in (
            outcome.output
        )
    assert handler.connections == 0
    assert sum(ledger_of(project).counts(ISSUE).values()) == 0


def test_a_non_ascii_smtp_password_is_a_clear_error(
    project: Path, run: Callable[..., Result], tmp_path: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    secret = "pässwörd-€-0123456789"
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        smtp_with_login(project, port, certificates)
        result = send(
            run, project, "latest", "--provider", "smtp", "--yes",
            env={**ENV, "INNOVATE_NEWS_SMTP_PASSWORD": secret},
        )  # fmt: skip
    before_any_plan(result)
    assert "INNOVATE_NEWS_SMTP_PASSWORD holds a character that is not ASCII" in result.output
    assert secret not in result.output and "UnicodeEncodeError" not in result.output
    assert handler.connections == 0


def test_api_keys_that_cannot_be_sent_are_clear_errors(
    project: Path, run: Callable[..., Result]
) -> None:
    api = Api(canned=[])
    with api_server(api) as server:
        configure(project, "providers.postmark", base_url=server.url, backoff=0.01)
        outcomes = {}
        for key in ("", "tök€n-0123456789abcdef", "pm-token\n0123456789"):
            env = {**ENV, "INNOVATE_NEWS_POSTMARK_TOKEN": key}
            outcomes[key] = send(run, project, "latest", "--provider", "postmark", "--yes", env=env)
    for key, result in outcomes.items():
        before_any_plan(result)
        if key:
            assert "INNOVATE_NEWS_POSTMARK_TOKEN holds a character no postmark API key has" in (
                result.output
            )
            assert key not in result.output
    assert "postmark needs its API key" in outcomes[""].output
    assert api.delivered == []


def test_a_refused_login_is_reported_without_a_class_name(
    project: Path, run: Callable[..., Result], tmp_path: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        smtp_with_login(project, port, certificates)
        result = send(
            run, project, "latest", "--provider", "smtp", "--yes",
            env={**ENV, "INNOVATE_NEWS_SMTP_PASSWORD": PASSWORD + "-wrong"},
        )  # fmt: skip
    assert result.exit_code == 1
    assert f"Error: 127.0.0.1:{port} refused the login of '{USER}'" in result.output
    assert "AuthError" not in result.output
    assert handler.messages == []


def test_a_dry_run_says_what_the_real_send_would_refuse(
    project: Path, run: Callable[..., Result], tmp_path: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        smtp_with_login(project, port, certificates)
        refused = send(
            run, project, "latest", "--provider", "smtp", "--dry-run",
            env={"INNOVATE_NEWS_SECRET": "", "INNOVATE_NEWS_SMTP_PASSWORD": ""},
        )  # fmt: skip
        ready = send(
            run, project, "latest", "--provider", "smtp", "--dry-run",
            env={**ENV, "INNOVATE_NEWS_SMTP_PASSWORD": PASSWORD},
        )  # fmt: skip
    # Still a dry run: the plan, every copy built, exit 0; but it says the send would refuse.
    assert refused.exit_code == 0, refused.output
    assert "To send:    17" in refused.output and "Dry run: built 17 copies" in refused.output
    would = "Dry run only: the real send through smtp would refuse: "
    assert would + "INNOVATE_NEWS_SECRET is not set" in refused.output
    assert would + f"{project / 'innovate-news.toml'}: [providers.smtp] username is set but " in (
        refused.output
    )
    assert ready.exit_code == 0 and "would refuse" not in ready.output
    assert handler.connections == 0 and sum(ledger_of(project).counts(ISSUE).values()) == 0


def test_the_outbox_needs_no_credentials(project: Path, run: Callable[..., Result]) -> None:
    result = send(
        run, project, "latest", "--provider", "outbox", "--dry-run",
        env={"INNOVATE_NEWS_SECRET": "", "INNOVATE_NEWS_SMTP_PASSWORD": ""},
    )  # fmt: skip
    assert result.exit_code == 0 and "would refuse" not in result.output
