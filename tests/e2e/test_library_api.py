"""The library without the command line: build the example site and send the latest issue."""

from __future__ import annotations

import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import click

from innovate_news import api
from innovate_news.cli.main import LAZY_COMMANDS, cli
from innovate_news.delivery.plan import Plan
from tests.support import NOW, REPO


def test_build_and_send_through_the_api_alone(project: Path) -> None:
    settings = api.load_settings(project / "innovate-news.toml")
    report = api.build(settings, now=NOW)
    assert (report.out / "feed.xml").is_file() and report.published > 0

    shown: list[Plan] = []

    def confirm(plan: Plan) -> bool:
        shown.append(plan)
        return True

    summary = api.send(
        settings,
        "latest",
        provider="outbox",
        subscribers=project / "subscribers.example.csv",
        confirm=confirm,
        now=NOW,
    )
    assert shown and summary.plan is shown[0]
    assert summary.sent == len(shown[0].recipients) > 0 and summary.exit_code == 0
    copies = sorted((project / "outbox").rglob("*.eml"))
    assert len(copies) == summary.sent
    message = BytesParser(policy=policy.default).parsebytes(copies[0].read_bytes())
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    again = api.send(settings, "latest", subscribers=project / "subscribers.example.csv", now=NOW)
    assert again.sent == 0 and again.plan is not None and not again.plan.recipients
    status = api.status(settings, "latest")
    assert status["counts"]["sent"] == summary.sent


def test_a_declined_plan_sends_nothing(project: Path) -> None:
    settings = api.load_settings(project / "innovate-news.toml")
    summary = api.send(
        settings, "latest", subscribers=project / "subscribers.example.csv", confirm=lambda _: False
    )
    assert summary.declined and summary.sent == 0
    assert not (project / "outbox").exists()


def test_the_api_imports_without_click() -> None:
    code = "import sys, innovate_news.api; sys.exit('click' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


def test_help_lists_each_lazy_command_with_its_own_help() -> None:
    """--help shows the kept one-line help of commands it does not import; it must be theirs."""
    context = click.Context(cli)
    for name, (load, text) in LAZY_COMMANDS.items():
        command = load()
        assert (command.help or "").split("\n")[0] == text, name
    assert "send" in cli.list_commands(context)
