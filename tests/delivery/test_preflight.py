"""providers.preflight: credentials a send needs, checked before any plan or connection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from innovate_news import settings as settings_module
from innovate_news.delivery import providers
from innovate_news.errors import Problem


def configured(project: Path, table: str, text: str) -> settings_module.Settings:
    path = project / "innovate-news.toml"
    old = path.read_text(encoding="utf-8")
    old = re.sub(rf"(?ms)^\[{re.escape(table)}\]\n.*?(?=^\[|\Z)", "", old)
    path.write_text(old.rstrip("\n") + f"\n\n[{table}]\n{text}\n", encoding="utf-8")
    return settings_module.load(path)


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]


def test_smtp_with_a_username_needs_an_ascii_password(project: Path) -> None:
    settings = configured(project, "providers.smtp", 'host = "mail.example.org"\nusername = "u"')
    assert (
        "username is set but INNOVATE_NEWS_SMTP_PASSWORD is not"
        in messages(providers.preflight(settings, "smtp", {}))[0]
    )
    (problem,) = providers.preflight(settings, "smtp", {"INNOVATE_NEWS_SMTP_PASSWORD": "pä55"})
    assert "not ASCII" in problem.message and "pä55" not in str(problem)
    assert providers.preflight(settings, "smtp", {"INNOVATE_NEWS_SMTP_PASSWORD": "pa55"}) == []


def test_smtp_without_a_username_needs_no_password(project: Path) -> None:
    settings = configured(project, "providers.smtp", 'host = "mail.example.org"')
    assert providers.preflight(settings, "smtp", {}) == []


def test_a_non_ascii_smtp_username_is_named_with_the_settings_file(project: Path) -> None:
    settings = configured(project, "providers.smtp", 'host = "m.example.org"\nusername = "zoë"')
    (problem,) = providers.preflight(settings, "smtp", {"INNOVATE_NEWS_SMTP_PASSWORD": "pw"})
    assert problem.path == settings.path and "username 'zoë' is not ASCII" in problem.message


@pytest.mark.parametrize("name", ["postmark", "mailgun", "sendgrid"])
def test_api_keys_must_be_present_and_printable_ascii(project: Path, name: str) -> None:
    settings = settings_module.load(project / "innovate-news.toml")
    variable = providers.KEYS[name]
    assert variable in messages(providers.preflight(settings, name, {}))[0]
    for bad in ("kéy-0123456789", "key 0123456789", "key-01234\x0056789"):
        (problem,) = providers.preflight(settings, name, {variable: bad})
        assert f"{variable} holds a character no {name} API key has" in problem.message
        assert bad not in str(problem)
    assert providers.preflight(settings, name, {variable: " key-0123456789\n"}) == []


def test_the_outbox_needs_nothing(project: Path) -> None:
    settings = settings_module.load(project / "innovate-news.toml")
    assert providers.preflight(settings, "outbox", {}) == []
