"""`innovate-news preview`: one recipient's copy as .html, .txt and .eml files."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news.audience import tokens
from innovate_news.settings import Settings

SECRET = "preview-tests-secret-0123456789"
ENV = {tokens.ENV: SECRET}


def test_preview_writes_the_sample_copy(project: Path, run: Callable[..., Result]) -> None:
    out = project / "previews"
    result = run("preview", "2023-06-guidance-year", "--out", str(out), env=ENV)
    assert result.exit_code == 0, result.output
    assert "blog+event+finding copy for sam@example.org" in result.output
    html = (out / "2023-06-guidance-year.html").read_text(encoding="utf-8")
    text = (out / "2023-06-guidance-year.txt").read_text(encoding="utf-8")
    eml = (out / "2023-06-guidance-year.eml").read_bytes()
    assert "Hello Sam," in html and "Hello Sam," in text  # sample_first_name
    assert "ZQX" not in html and "ZQX" not in text  # every placeholder filled
    parsed = BytesParser(policy=policy.default).parsebytes(eml)
    assert parsed["To"] == "Sam Example <sam@example.org>"
    body = parsed.get_body(("html",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == html
    token = html.split("unsubscribe?t=", 1)[1].split('"', 1)[0]
    keys = tokens.Keyring.parse(SECRET)
    assert keys.verify("unsubscribe", token, parsed["Date"].datetime)[1] == "sam@example.org"
    assert "not set" not in result.stderr


def test_preview_as_a_subscriber_from_the_list(
    project: Path, settings: Settings, run: Callable[..., Result]
) -> None:
    # The example list has a first_name column ("Ben" on Ben Okoro's row).
    example = (project / "subscribers.example.csv").read_bytes()
    (settings.root / settings.email["subscribers"]).write_bytes(example)
    out = project / "previews"
    result = run("preview", "latest", "--out", str(out), "--as", "BEN.OKORO@example.com", env=ENV)
    assert result.exit_code == 0, result.output
    assert "the event copy for ben.okoro@example.com" in result.output
    html = (out / "2023-06-guidance-year.html").read_text(encoding="utf-8")
    assert "Hello Ben," in html and "Hello Ben Okoro," not in html
    assert "Upcoming events" in html and "New findings" not in html


def test_preview_as_an_address_not_on_the_list(project: Path, run: Callable[..., Result]) -> None:
    out = project / "previews"
    result = run("preview", "latest", "--out", str(out), "--as", "new@example.org", env=ENV)
    assert result.exit_code == 0, result.output
    assert "Hello," in (out / "2023-06-guidance-year.txt").read_text(encoding="utf-8")


def test_preview_topics(project: Path, run: Callable[..., Result]) -> None:
    out = project / "previews"
    result = run("preview", "latest", "--out", str(out), "--topics", "finding,blog", env=ENV)
    assert result.exit_code == 0, result.output
    text = (out / "2023-06-guidance-year.txt").read_text(encoding="utf-8")
    assert "NEW FINDINGS" in text and "FROM THE BLOG" in text and "UPCOMING EVENTS" not in text
    bad = run("preview", "latest", "--topics", "gossip", env=ENV)
    assert bad.exit_code == 2 and "finding, blog, event" in bad.output
    nothing = run("preview", "2022-06-summer-update", "--topics", "finding", env=ENV)
    assert nothing.exit_code == 1 and "would not get this issue" in nothing.output


def test_preview_default_folder_and_generated_secret(
    project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tokens.ENV, raising=False)
    result = run("preview", "2021-01-winter-update")
    assert result.exit_code == 0, result.output
    assert (project / "preview" / "2021-01-winter-update.eml").is_file()
    assert "INNOVATE_NEWS_SECRET is not set" in result.stderr
    assert (project / ".innovate-news" / tokens.GENERATED_FILE).is_file()


def test_preview_unknown_issue(run: Callable[..., Result]) -> None:
    result = run("preview", "1999-nothing", env=ENV)
    assert result.exit_code == 1
    assert "no issue '1999-nothing'" in result.output


def test_preview_open_launches_the_html(
    project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[str] = []

    class Browser(webbrowser.BaseBrowser):
        def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
            launched.append(url)
            return True

    # No desktop here to open a browser on: record what would have been opened.
    monkeypatch.setattr(webbrowser, "get", lambda using=None: Browser())
    result = run("preview", "latest", "--out", str(project / "p"), "--open", env=ENV)
    assert result.exit_code == 0, result.output
    assert launched == [(project / "p" / "2023-06-guidance-year.html").as_uri()]
    assert "No web browser" not in result.output


def test_preview_help(run: Callable[..., Result]) -> None:
    result = run("preview", "--help")
    assert result.exit_code == 0
    for option in ("--out", "--as", "--topics", "--open"):
        assert option in result.output
