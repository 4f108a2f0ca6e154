"""`send` through a real SMTP server: one mailbox, whatever the case of its spelling, one copy."""

from __future__ import annotations

import email.parser
import email.policy
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.cli.test_send_commands import ENV, ISSUE, ledger_of, send, smtp_settings
from tests.support.servers import SmtpHandler, smtp_server


def test_both_spellings_get_one_copy_sent_as_written_and_a_respelt_rerun_sends_none(
    project: Path, run: Callable[..., Result]
) -> None:
    people = project / "people.csv"
    people.write_text(
        "email,name\nAnn.Lee@Example.org,Ann\nben@example.org,Ben\nann.lee@example.ORG,Ann 2\n",
        encoding="utf-8",
    )
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        first = send(
            run, project, "latest", "--provider", "smtp", "--subscribers", str(people), "--yes",
            env=ENV,
        )  # fmt: skip
        assert first.exit_code == 0, first.output
        # The same people, spelt otherwise since: nobody gets the issue a second time.
        people.write_text(
            "email,name\nANN.LEE@EXAMPLE.ORG,Ann\nBen@Example.org,Ben\n", encoding="utf-8"
        )
        again = send(
            run, project, "latest", "--provider", "smtp", "--subscribers", str(people), "--yes",
            "--include-new", env=ENV,
        )  # fmt: skip
    assert handler.received() == Counter({"Ann.Lee@example.org": 1, "ben@example.org": 1})
    to = email.parser.BytesParser(policy=email.policy.default).parsebytes(handler.messages[0][1])
    assert to["To"].addresses[0].addr_spec == "Ann.Lee@example.org"
    assert (
        "people.csv:4: warning: ann.lee@example.ORG repeats row 2 (Ann.Lee@Example.org): one "
        "mailbox, so it is sent once, to row 2" in first.output
    )
    assert "1 duplicates" in first.output and "To send:    2" in first.output
    assert ledger_of(project).states(ISSUE) == {
        "ann.lee@example.org": "sent",
        "ben@example.org": "sent",
    }
    assert again.exit_code == 0, again.output
    assert "2 already sent" in again.output and "To send:    0" in again.output
    assert "new subscriber" not in again.output and "Nothing to send." in again.output
