"""Postmark's message streams: confirmations are transactional, the newsletter is broadcast."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from innovate_news import api
from innovate_news import settings as settings_module
from innovate_news.errors import SettingsError
from innovate_news.settings import Settings
from tests.support.listservice import SECRET, configure, served, write_list
from tests.support.servers import POSTMARK_TOKEN, Api, api_server, free_port

LEFT = "left@example.org"  # unsubscribed through Postmark's own link on the broadcast stream


def postmark_project(project: Path, port: int, base_url: str, stream: str = "") -> Settings:
    configure(project, port, provider="postmark")
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('base_url = "https://api.postmarkapp.com"', f'base_url = "{base_url}"')
    if stream:
        line = 'message_stream = "broadcast"\n'
        text = text.replace(line, f'{line}transactional_stream = "{stream}"\n')
    path.write_text(text, encoding="utf-8")
    return settings_module.load(path)


@pytest.mark.parametrize("stream", ["", "confirmations"], ids=["default", "configured"])
def test_someone_on_the_broadcast_suppression_list_can_still_sign_up(
    project: Path, monkeypatch: pytest.MonkeyPatch, stream: str
) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    monkeypatch.setenv("INNOVATE_NEWS_POSTMARK_TOKEN", POSTMARK_TOKEN)
    postmark = Api(postmark_suppressed={"broadcast": {LEFT: ("ManualSuppression", "Recipient")}})
    port = free_port()
    with api_server(postmark) as server:
        settings = postmark_project(project, port, server.url, stream)
        write_list(project, [])
        with served(settings, port) as (url, _):
            form = {"email": LEFT, "consent": "v1", "website": ""}
            answer = requests.post(f"{url}subscribe", data=form, timeout=10)
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [(address, item)] = postmark.delivered
    assert address == LEFT and item["MessageStream"] == (stream or "outbound")
    assert "confirm?t=" in item["TextBody"]


def test_a_transactional_stream_must_be_named(project: Path) -> None:
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('message_stream = "broadcast"\n',
                                 'message_stream = "broadcast"\ntransactional_stream = " "\n'),
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(SettingsError, match="transactional_stream"):
        settings_module.load(path)


def test_check_warns_that_postmark_broadcasts_carry_postmarks_own_unsubscribe(
    project: Path,
) -> None:
    settings = configure(project, free_port(), provider="postmark")
    warnings = [str(p) for p in api.check(settings) if p.severity == "warning"]
    assert any("List-Unsubscribe" in w and "SubscriptionChange" in w for w in warnings), warnings
    path = settings.path
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('provider = "postmark"', 'provider = "outbox"'), encoding="utf-8")
    quiet = settings_module.load(path)
    assert not any("List-Unsubscribe" in str(p) for p in api.check(quiet))
