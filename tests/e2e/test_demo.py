"""`make demo` is one world: a demo subscriber's preferences link works on `serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from innovate_news import settings as settings_module
from tests.support.listservice import served
from tests.support.servers import free_port

ISSUE = "2023-06-guidance-year"
READER = "ben.okoro@example.com"  # chose events only, in subscribers.example.csv


def make_demo(project: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's demo target in `project`, with this environment's installed package."""
    venv = Path(sys.executable).parent.parent
    env = {k: v for k, v in os.environ.items() if k != "INNOVATE_NEWS_SECRET"}
    return subprocess.run(
        ["make", "-C", str(project), "demo", f"VENV={venv}", "-o", str(venv / ".installed")],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def preferences_token(eml: Path) -> str:
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"/preferences\?t=(\S+)", body.get_content())
    assert found, "no preferences link"
    return found.group(1)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_demo_subscriber_can_use_the_preferences_link_on_serve(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INNOVATE_NEWS_SECRET", raising=False)  # the demo's generated secret
    shutil.copy2(Path(__file__).resolve().parents[2] / "Makefile", project / "Makefile")
    done = make_demo(project)
    assert "Copied subscribers.example.csv to subscribers.csv" in done.stdout
    example = (project / "subscribers.example.csv").read_bytes()
    assert (project / "subscribers.csv").read_bytes() == example
    settings = settings_module.load(project / "innovate-news.toml")
    eml = (project / "outbox" / ISSUE / f"{READER}.eml").read_bytes()
    assert b"Hello Ben," in eml  # the example list's first_name column
    token = preferences_token(project / "outbox" / ISSUE / f"{READER}.eml")
    port = free_port()
    with served(settings, port) as (url, _):
        page = requests.get(f"{url}preferences?t={token}", timeout=10)
    assert page.status_code == 200, page.text
    assert re.search(r'value="event" checked', page.text)

    (project / "subscribers.csv").write_text("email\nsomeone@example.org\n", encoding="utf-8")
    again = make_demo(project)  # an existing list is left alone
    assert "Copied" not in again.stdout
    assert (project / "subscribers.csv").read_text(encoding="utf-8") == (
        "email\nsomeone@example.org\n"
    )
