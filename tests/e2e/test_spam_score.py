"""A sent issue as SpamAssassin (Debian's, local rules only, no network) scores it."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.servers import SmtpHandler, smtp_server

ENV = {"INNOVATE_NEWS_SECRET": "spam-score-test-secret-0123456789"}
SPAMASSASSIN = shutil.which("spamassassin")


def smtp_settings(project: Path, port: int) -> None:
    values = {"host": "127.0.0.1", "port": port, "security": "none", "concurrency": 1}
    path = project / "innovate-news.toml"
    text = re.sub(r"(?ms)^\[providers\.smtp\]\n.*?(?=^\[|\Z)", "", path.read_text("utf-8"))
    lines = ["\n[providers.smtp]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def sent_message(project: Path, run: Callable[..., Result]) -> bytes:
    """The latest issue, every section, as the SMTP server received it."""
    listing = project / "one.csv"
    listing.write_text("email,name\nreader@example.org,Rita Reader\n", encoding="utf-8")
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        smtp_settings(project, port)
        args = ("send", "latest", "--provider", "smtp", "--subscribers", str(listing), "--yes")
        result = run(*args, "--now", "2026-11-25T12:00", env=ENV)
    assert result.exit_code == 0, result.output
    ((address, raw),) = handler.messages
    assert address == "reader@example.org"
    return bytes(raw)


@pytest.mark.skipif(SPAMASSASSIN is None, reason="needs Debian's spamassassin (make test)")
def test_a_sent_issue_scores_at_most_zero_without_low_contrast_text(
    project: Path, run: Callable[..., Result]
) -> None:
    raw = sent_message(project, run)
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert parsed.get_body(("html",)) is not None and parsed.get_body(("plain",)) is not None
    assert SPAMASSASSIN is not None
    report = subprocess.run(
        [SPAMASSASSIN, "-t", "-L"], input=raw, capture_output=True, timeout=60, check=False
    ).stdout.decode("utf-8", "replace")
    score = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert score is not None, report
    assert "HTML_FONT_LOW_CONTRAST" not in report, report
    assert float(score.group(1)) <= 0.0, report
