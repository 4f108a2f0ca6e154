"""Every byte of a batch is built before the ledger marks it: a copy that cannot be built leaves
no one "sending" or "unknown", and a setting that cannot go into a header is an error naming it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from innovate_news import api
from innovate_news.audience import subscribers
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.http import Client
from innovate_news.delivery.providers.postmark import PostmarkProvider
from innovate_news.errors import RenderError, SettingsError
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support import NOW
from tests.support.servers import (
    ISSUE,
    POSTMARK_TOKEN,
    Api,
    SimpleComposer,
    SmtpHandler,
    api_server,
    deliver,
    numbered,
    smtp_server,
    write_list,
)

SECRET = "innovate-news-test-secret-0123456789"
LATEST = "2023-06-guidance-year"


class FailsAt(SimpleComposer):
    """Builds copies like SimpleComposer, but one recipient's copy cannot be built."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def compose(self, subscriber: Any, test: bool = False) -> Any:
        if subscriber.normalised == self.address:
            raise RenderError(f"{self.address}: cannot build this copy")
        return super().compose(subscriber, test)


def test_a_copy_that_cannot_be_built_marks_no_one_in_its_batch(tmp_path: Path) -> None:
    api_state = Api()
    ledger = Ledger(tmp_path / "state" / "ledger.sqlite3")
    listing = subscribers.read(write_list(tmp_path, 20))
    with api_server(api_state) as server:
        client = Client("postmark", server.url, 2.0, {"X-Postmark-Server-Token": POSTMARK_TOKEN})
        provider = PostmarkProvider(client, "broadcast", Limits(batch_size=5, backoff=0.01))
        with pytest.raises(RenderError, match=r"r007@example\.org: cannot build"):
            deliver(ledger, provider, listing, FailsAt("r007@example.org"))
    assert numbered(api_state.received()) == [1, 2, 3, 4, 5]  # the first batch only
    counts = ledger.counts(ISSUE)
    assert (counts["sent"], counts["pending"]) == (5, 15)
    assert counts["sending"] == counts["unknown"] == 0
    assert ledger.recover(ISSUE) == 0  # nothing was left in flight for a rerun to doubt


@pytest.fixture
def smtp_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    write_list(project, 30)
    return project


def code_made(settings: Settings, **email: str) -> Settings:
    """Settings as a script might make them, past the file's validation."""
    values = {**settings.values, "email": {**settings.email, **email}}
    return dataclasses.replace(settings, values=values)


def smtp_send(settings: Settings, project: Path, port: int) -> Any:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "concurrency": 1,
            "rate": 100000.0, "timeout": 2.0, "backoff": 0.01, "max_attempts": 2,
            "username": None}  # fmt: skip
    values = {**settings.values, "providers.smtp": {**settings.provider("smtp"), **smtp}}
    return api.send(
        dataclasses.replace(settings, values=values), "latest", provider="smtp",
        subscribers=project / "subscribers.csv", confirm=lambda plan: True, now=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "values"),
    [
        ("unsubscribe_url", {"unsubscribe_url": "https://exämple.org/innovate/unsubscribe"}),
        # The From domain reaches SMTP's MAIL FROM, inside the provider, after any marking.
        ("from", {"from": "Innovate <news@exämple.org>", "message_id_domain": "example.org"}),
    ],
)
def test_a_setting_no_header_can_carry_is_named_and_marks_no_one(
    smtp_project: Path, settings: Settings, key: str, values: dict[str, str]
) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        with pytest.raises(SettingsError) as refused:
            smtp_send(code_made(settings, **values), smtp_project, port)
        problem = str(refused.value)
        assert "innovate-news.toml:" in problem and f"[email] {key} " in problem
        assert "xn--exmple-cua.org" in problem  # the ASCII form to write instead
        assert handler.messages == []
        with Ledger.open(settings) as ledger:
            counts = ledger.counts(LATEST)
            assert counts["sending"] == counts["unknown"] == counts["sent"] == 0
        summary = smtp_send(settings, smtp_project, port)  # the setting put right
    assert summary.sent == 30 and summary.unknown == 0
    assert numbered(handler.received()) == list(range(1, 31))  # each exactly once
