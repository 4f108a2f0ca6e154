"""Postmark, Mailgun and SendGrid against a local HTTP server speaking their documented APIs."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import pytest

from innovate_news.audience import subscribers
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.http import Client, retry_after
from innovate_news.delivery.providers.mailgun import MailgunProvider
from innovate_news.delivery.providers.postmark import PostmarkProvider
from innovate_news.delivery.providers.sendgrid import SendGridProvider
from innovate_news.errors import AuthError, SendError
from innovate_news.store.ledger import Ledger
from tests.support.servers import (
    ISSUE,
    MAILGUN_KEY,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    Api,
    Canned,
    SimpleComposer,
    api_server,
    deliver,
    free_port,
    numbered,
    write_list,
)
from tests.support.stores import StoreBackend

NAMES = ("postmark", "mailgun", "sendgrid")


def make(name: str, url: str, key: str | None = None, timeout: float = 2.0, **limits: Any) -> Any:
    settings: dict[str, Any] = {
        "batch_size": 1000,
        "max_attempts": 4,
        "backoff": 0.01,
        "max_wait": 5,
    }
    settings.update(limits)
    rules = Limits(**settings)
    if name == "postmark":
        headers = {"X-Postmark-Server-Token": key or POSTMARK_TOKEN}
        return PostmarkProvider(Client(name, url, timeout, headers=headers), "broadcast", rules)
    if name == "mailgun":
        client = Client(name, url, timeout, auth=("api", key or MAILGUN_KEY))
        return MailgunProvider(client, "mg.example.org", rules)
    headers = {"Authorization": f"Bearer {key or SENDGRID_KEY}"}
    return SendGridProvider(Client(name, url, timeout, headers=headers), rules)


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    """The ledger on each store backend in turn."""
    return store_backend.ledger(tmp_path / "state" / "ledger.sqlite3")


def people(tmp_path: Path, count: int, topics: Any = lambda i: "") -> subscribers.SubscriberList:
    return subscribers.read(write_list(tmp_path, count, topics))


def test_postmark_batch_answered_200_with_error_codes_0_406_300(
    ledger: Ledger, tmp_path: Path
) -> None:
    inactive = "You tried to send to recipient(s) that have been marked as inactive."
    api = Api(postmark_codes={
        "r002@example.org": (406, inactive),
        "r003@example.org": (300, "Invalid 'To' address: 'r003@example.org'."),
    })  # fmt: skip
    with api_server(api) as server:
        summary = deliver(ledger, make("postmark", server.url), people(tmp_path, 4))
    assert (summary.sent, summary.failed) == (2, 2) and summary.exit_code == 3
    assert numbered(api.received()) == [1, 4]
    assert api.requests == [("/email/batch", 2)]
    states = {d.address: d for d in ledger.deliveries(ISSUE)}
    assert [states[f"r00{i}@example.org"].state for i in (1, 2, 3, 4)] == [
        "sent", "failed", "failed", "sent",
    ]  # fmt: skip
    assert "406" in states["r002@example.org"].last_error
    assert "300" in states["r003@example.org"].last_error
    assert states["r001@example.org"].provider_id.startswith("pm-")
    assert ledger.is_suppressed("r002@example.org")
    assert not ledger.is_suppressed("r003@example.org")


def test_postmark_messages_carry_each_recipients_own_fields(ledger: Ledger, tmp_path: Path) -> None:
    api = Api()
    with api_server(api) as server:
        deliver(ledger, make("postmark", server.url), people(tmp_path, 2))
    first = dict(api.delivered)["r001@example.org"]
    assert first["To"] == "Reader 1 <r001@example.org>"
    assert first["MessageStream"] == "broadcast"
    assert "Hello Reader 1," in first["TextBody"] and "Hello Reader 1," in first["HtmlBody"]
    headers = {h["Name"]: h["Value"] for h in first["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<https://example.org/unsubscribe?t=tok-r001")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Message-ID"] == "<issue7.r001.example.org@example.org>"


@pytest.mark.parametrize(
    ("name", "sizes"),
    [("postmark", [500, 500, 1]), ("mailgun", [1000, 1]), ("sendgrid", [1000, 1])],
)
def test_1001_recipients_are_split_within_each_providers_limit(
    ledger: Ledger, tmp_path: Path, name: str, sizes: list[int]
) -> None:
    api = Api()
    with api_server(api) as server:
        summary = deliver(ledger, make(name, server.url), people(tmp_path, 1001))
    assert summary.sent == 1001
    assert [count for _, count in api.requests] == sizes
    assert sorted(api.received().values()) == [1] * 1001
    assert ledger.counts(ISSUE)["sent"] == 1001


def test_mailgun_sends_one_template_with_recipient_variables(
    ledger: Ledger, tmp_path: Path
) -> None:
    api = Api()
    with api_server(api) as server:
        deliver(ledger, make("mailgun", server.url), people(tmp_path, 3))
    ((path, count),) = api.requests
    assert path == "/v3/mg.example.org/messages" and count == 3
    fields = dict(api.delivered)["r002@example.org"]
    assert fields["html"] == "<p>Hello %recipient.html_name%, the %recipient.variant% issue.</p>"
    assert fields["h:List-Unsubscribe"].startswith("<%recipient.unsubscribe_url%>")
    assert (
        fields["variables"]["unsubscribe_url"]
        == "https://example.org/unsubscribe?t=tok-r002@example.org"
    )
    assert fields["variables"]["name"] == "Reader 2"


def test_batch_apis_send_one_variant_per_request(ledger: Ledger, tmp_path: Path) -> None:
    api = Api()
    topics = lambda i: "event" if i % 2 else "finding"  # noqa: E731
    with api_server(api) as server:
        deliver(
            ledger,
            make("sendgrid", server.url),
            people(tmp_path, 6, topics),
            SimpleComposer(variants=True),
        )
    assert sorted(count for _, count in api.requests) == [3, 3]
    for address, body in api.delivered:
        number = int(address[1:4])
        assert body["personalization"]["substitutions"]["[[variant]]"] == (
            "event" if number % 2 else "finding"
        )


def test_sendgrid_personalizations_carry_headers_and_substitutions(
    ledger: Ledger, tmp_path: Path
) -> None:
    api = Api()
    with api_server(api) as server:
        deliver(ledger, make("sendgrid", server.url), people(tmp_path, 2))
    body = dict(api.delivered)["r001@example.org"]
    person = body["personalization"]
    assert person["to"] == [{"email": "r001@example.org", "name": "Reader 1"}]
    assert person["substitutions"]["[[html_name]]"] == "Reader 1"
    assert person["headers"]["List-Unsubscribe"].startswith(
        "<https://example.org/unsubscribe?t=tok-r001"
    )
    assert body["content"][1] == {
        "type": "text/html",
        "value": "<p>Hello [[html_name]], the [[variant]] issue.</p>",
    }
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ledger.deliveries(ISSUE)[0].provider_id.startswith("sg-")


@pytest.mark.parametrize("name", NAMES)
def test_429_with_retry_after_waits_then_sends_once(
    ledger: Ledger, tmp_path: Path, name: str
) -> None:
    api = Api(canned=[Canned(429, {"message": "slow down"}, {"Retry-After": "1"})])
    with api_server(api) as server:
        started = time.monotonic()
        summary = deliver(ledger, make(name, server.url), people(tmp_path, 3))
    assert time.monotonic() - started >= 0.9
    assert summary.sent == 3 and numbered(api.received()) == [1, 2, 3]
    assert {d.attempts for d in ledger.deliveries(ISSUE)} == {2}


def test_x_ratelimit_reset_is_honoured(ledger: Ledger, tmp_path: Path) -> None:
    reset = str(int(time.time()) + 2)
    api = Api(canned=[Canned(429, {"errors": []}, {"X-RateLimit-Reset": reset})])
    with api_server(api) as server:
        started = time.monotonic()
        summary = deliver(ledger, make("sendgrid", server.url), people(tmp_path, 2))
    assert summary.sent == 2 and time.monotonic() - started >= 0.5


def test_429_asking_more_than_max_wait_stops_the_run_resumably(
    ledger: Ledger, tmp_path: Path
) -> None:
    api = Api(canned=[Canned(429, {"message": "slow down"}, {"Retry-After": "3600"})])
    listing = people(tmp_path, 3)
    with api_server(api) as server:
        first = deliver(ledger, make("mailgun", server.url), listing)
        assert first.sent == 0 and "3600" in first.stopped and first.exit_code == 3
        counts = ledger.counts(ISSUE)
        assert counts["deferred"] == 3 and counts["unknown"] == 0
        second = deliver(ledger, make("mailgun", server.url), listing)
    assert second.sent == 3 and numbered(api.received()) == [1, 2, 3]


@pytest.mark.parametrize("name", NAMES)
def test_5xx_backs_off_and_retries(ledger: Ledger, tmp_path: Path, name: str) -> None:
    api = Api(canned=[Canned(500, {"message": "oops"}), Canned(503, {"message": "busy"})])
    with api_server(api) as server:
        summary = deliver(ledger, make(name, server.url), people(tmp_path, 2))
    assert summary.sent == 2 and numbered(api.received()) == [1, 2]
    assert {d.attempts for d in ledger.deliveries(ISSUE)} == {3}


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_key_aborts_the_run_and_is_never_printed(
    ledger: Ledger, tmp_path: Path, name: str
) -> None:
    api = Api()
    with api_server(api) as server, pytest.raises(AuthError) as raised:
        deliver(ledger, make(name, server.url, key="wrong-key-abcdef123"), people(tmp_path, 3))
    assert "wrong-key-abcdef123" not in str(raised.value)
    assert api.delivered == [] and ledger.counts(ISSUE)["pending"] == 3


@pytest.mark.parametrize("name", NAMES)
def test_a_timeout_after_the_body_was_sent_marks_the_batch_unknown(
    ledger: Ledger, tmp_path: Path, name: str
) -> None:
    api = Api(canned=[Canned(hang=1.0)])
    listing = people(tmp_path, 3)
    with api_server(api) as server:
        summary = deliver(ledger, make(name, server.url, timeout=0.3), listing)
        assert summary.unknown == 3 and summary.exit_code == 3
        assert ledger.counts(ISSUE)["unknown"] == 3
        requests = len(api.requests)
        again = deliver(ledger, make(name, server.url), listing)
        assert again.sent == 0 and len(api.requests) == requests  # never resent by itself
        forced = deliver(ledger, make(name, server.url), listing, resend_unknown=True)
    assert forced.sent == 3


def test_an_unreachable_api_leaves_nothing_unknown(ledger: Ledger, tmp_path: Path) -> None:
    provider = make("postmark", f"http://127.0.0.1:{free_port()}", max_attempts=2)
    summary = deliver(ledger, provider, people(tmp_path, 3))
    assert summary.sent == 0 and summary.stopped
    counts = ledger.counts(ISSUE)
    assert counts["unknown"] == 0 and counts["pending"] + counts["deferred"] == 3


def test_sendgrid_error_naming_one_personalization_fails_only_that_recipient(
    ledger: Ledger, tmp_path: Path
) -> None:
    bad = {"errors": [{"field": "personalizations.1.to.0.email", "message": "Invalid email"}]}
    api = Api(canned=[Canned(400, bad)])
    with api_server(api) as server:
        summary = deliver(ledger, make("sendgrid", server.url), people(tmp_path, 3))
    assert (summary.sent, summary.failed) == (2, 1)
    assert numbered(api.received()) == [1, 3]
    assert ledger.deliveries(ISSUE, ("failed",))[0].address == "r002@example.org"


def test_retry_after_forms() -> None:
    now = 1_000_000_000.0
    assert retry_after({"Retry-After": "7"}, now) == 7
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after({"retry-after": date}, now) == pytest.approx(30)
    assert retry_after({"X-RateLimit-Reset": str(int(now) + 12)}, now) == 12
    assert retry_after({"X-RateLimit-Reset": "5"}, now) == 5
    assert retry_after({}, now) is None


@pytest.mark.parametrize(
    ("name", "canned"),
    [
        ("postmark", Canned(422, {"ErrorCode": 400, "Message": "Sender signature not defined"})),
        ("mailgun", Canned(400, {"message": "'from' parameter is not a valid address"})),
        ("sendgrid", Canned(400, {"errors": [{"field": "from", "message": "not verified"}]})),
    ],
)
def test_a_refused_request_stops_the_run_and_fails_nobody(
    ledger: Ledger, tmp_path: Path, name: str, canned: Canned
) -> None:
    api = Api(canned=[canned])
    with api_server(api) as server, pytest.raises(SendError, match="refused the request"):
        deliver(ledger, make(name, server.url), people(tmp_path, 3))
    counts = ledger.counts(ISSUE)
    assert counts["pending"] == 3 and counts["failed"] == 0 and api.delivered == []
