"""Webhook events mean what each provider says they mean, and a signed request counts once."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from innovate_news.mail import Receipt
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support.listservice import SECRET, Clock, configure, served, write_list
from tests.support.servers import free_port
from tests.support.stores import StoreBackend
from tests.web.test_webhooks import (
    ENVIRON,
    POSTMARK_PASSWORD,
    mailgun_body,
    postmark,
    sendgrid,
    suppressions,
)


@pytest.fixture(autouse=True)
def on_each_backend(store_backend: StoreBackend) -> StoreBackend:
    """Every test here runs with the ledger and sign-ups on SQLite, then on PostgreSQL."""
    return store_backend


GOOD = ("postmark", POSTMARK_PASSWORD)
ISSUE = "2031-02-dropped"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(project: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    return configure(project, port)


@pytest.fixture
def url(settings: Settings, port: int) -> Iterator[str]:
    write_list(settings.root, ["kept@example.org,Kept,subscribed,,,"])
    with served(settings, port, environ=ENVIRON) as (address, _):
        yield address


def change(recipient: str, suppress: bool, reason: str | None, origin: str) -> dict[str, Any]:
    return {"RecordType": "SubscriptionChange", "MessageStream": "broadcast",
            "ChangedAt": "2031-02-01T10:53:34Z", "Recipient": recipient, "Origin": origin,
            "SuppressSending": suppress, "SuppressionReason": reason}  # fmt: skip


# Postmark ---------------------------------------------------------------------------------


def test_postmark_spam_notification_is_neither_a_complaint_nor_a_suppression(
    settings: Settings, url: str
) -> None:
    # A receiving filter refused the content; Postmark keeps the address active.
    notice = {"RecordType": "Bounce", "Type": "SpamNotification", "TypeCode": 512,
              "Email": "filtered@example.org", "MessageStream": "broadcast"}  # fmt: skip
    answer = postmark(url, notice, GOOD)
    assert answer.status_code == 200 and answer.json() == {"events": 0, "suppressed": 0}
    assert suppressions(settings) == {}


def test_postmark_subscription_changes_reach_the_suppressions_with_their_reasons(
    settings: Settings, url: str
) -> None:
    changes = [
        change("left@example.org", True, "ManualSuppression", "Recipient"),  # their unsubscribe
        change("held@example.org", True, "ManualSuppression", "Customer"),  # ours, by hand
        change("gone@example.org", True, "HardBounce", "Recipient"),
        change("spam@example.org", True, "SpamComplaint", "Recipient"),
    ]
    assert [postmark(url, c, GOOD).status_code for c in changes] == [200] * 4
    assert suppressions(settings) == {
        "left@example.org": "unsubscribed",
        "held@example.org": "manual",
        "gone@example.org": "bounced",
        "spam@example.org": "complained",
    }


def test_a_postmark_reactivation_lifts_only_what_postmark_suppressed_for_delivery(
    settings: Settings, url: str
) -> None:
    with Ledger.open(settings) as ledger:
        ledger.suppress("ours@example.org", "bounced", "import list.csv:4")
    for address, reason in [
        ("gone@example.org", "HardBounce"),
        ("held@example.org", "ManualSuppression"),
        ("left@example.org", "ManualSuppression"),
    ]:
        origin = "Recipient" if address == "left@example.org" else "Customer"
        postmark(url, change(address, True, reason, origin), GOOD)
    # The person then unsubscribes through our own link too, after Postmark's bounce:
    with Ledger.open(settings) as ledger:
        assert not ledger.suppress("gone@example.org", "unsubscribed", "one-click")
    before = suppressions(settings)
    for address in ("held@example.org", "left@example.org", "ours@example.org",
                    "gone@example.org"):  # fmt: skip
        answer = postmark(url, change(address, False, None, "Customer"), GOOD)
        assert answer.status_code == 200
    after = suppressions(settings)
    assert "held@example.org" not in after  # Postmark's own manual suppression: lifted
    assert after == {a: r for a, r in before.items() if a != "held@example.org"}
    assert after["left@example.org"] == "unsubscribed"  # a choice needs fresh consent
    assert after["gone@example.org"] == "unsubscribed"  # the later choice took its place
    assert after["ours@example.org"] == "bounced"  # not Postmark's to lift


def test_a_406_at_a_postmark_send_is_lifted_by_postmarks_reactivation(
    settings: Settings, url: str
) -> None:
    with Ledger.open(settings) as ledger:
        ledger.add(ISSUE, ["back@example.org", "smtp@example.org"])
        ledger.begin(ISSUE, ["back@example.org"], "postmark", ["pending"])
        ledger.finish(ISSUE, [Receipt("back@example.org", "failed", suppress="bounced")])
        ledger.begin(ISSUE, ["smtp@example.org"], "smtp", ["pending"])
        ledger.finish(ISSUE, [Receipt("smtp@example.org", "failed", suppress="bounced")])
    for address in ("back@example.org", "smtp@example.org"):
        postmark(url, change(address, False, None, "Customer"), GOOD)
    assert suppressions(settings) == {"smtp@example.org": "bounced"}


# Mailgun ----------------------------------------------------------------------------------


def test_mailgun_drops_to_its_own_lists_keep_their_reasons(settings: Settings, url: str) -> None:
    events = [
        {"event": "failed", "severity": "permanent", "reason": "suppress-unsubscribe",
         "recipient": "left@example.org"},
        {"event": "failed", "severity": "permanent", "reason": "suppress-complaint",
         "recipient": "spam@example.org"},
        {"event": "failed", "severity": "permanent", "reason": "suppress-bounce",
         "recipient": "gone@example.org"},
        {"event": "failed", "severity": "permanent", "reason": "bounce",
         "recipient": "nobody@example.org"},
    ]  # fmt: skip
    for event in events:
        answer = requests.post(f"{url}webhooks/mailgun", json=mailgun_body(event), timeout=10)
        assert answer.status_code == 200
    assert suppressions(settings) == {
        "left@example.org": "unsubscribed",
        "spam@example.org": "complained",
        "gone@example.org": "bounced",
        "nobody@example.org": "bounced",
    }


# SendGrid ---------------------------------------------------------------------------------


def test_sendgrid_dropped_copies_are_recorded_as_not_delivered(
    settings: Settings, url: str
) -> None:
    people = ["gone@example.org", "quota@example.org", "left@example.org", "bad@example.org"]
    with Ledger.open(settings) as ledger:
        ledger.add(ISSUE, people)
        ledger.begin(ISSUE, people, "sendgrid", ["pending"])
        ledger.finish(ISSUE, [Receipt(a, "sent", provider_id="Xm1d.7") for a in people])
    dropped = [
        ("gone@example.org", "Bounced Address"),
        ("quota@example.org", "Recipient List over Package Quota"),
        ("left@example.org", "Unsubscribed Address"),
        ("bad@example.org", "Invalid"),
    ]
    events = [{"email": a, "event": "dropped", "reason": why, "timestamp": int(time.time()),
               "sg_message_id": "Xm1d.7.filterdrecv-5645d9c87f-2a9ns-1-5E6A3B.0"}
              for a, why in dropped]  # fmt: skip
    answer = sendgrid(url, events)
    assert answer.status_code == 200 and answer.json() == {"events": 4, "suppressed": 3}
    with Ledger.open(settings) as ledger:
        rows = {d.address: d for d in ledger.deliveries(ISSUE)}
    assert {a: rows[a].state for a in people} == {
        "gone@example.org": "failed",
        "quota@example.org": "deferred",  # not the address's fault: a later run tries again
        "left@example.org": "failed",
        "bad@example.org": "failed",
    }
    assert rows["quota@example.org"].last_error == (
        "sendgrid dropped it: Recipient List over Package Quota"
    )
    assert suppressions(settings) == {
        "gone@example.org": "bounced",
        "left@example.org": "unsubscribed",
        "bad@example.org": "bounced",
    }


# Replays ----------------------------------------------------------------------------------


def test_a_mailgun_token_counts_once_whatever_body_it_comes_with(
    settings: Settings, url: str
) -> None:
    first = mailgun_body({"event": "complained", "recipient": "spam@example.org"})
    assert requests.post(f"{url}webhooks/mailgun", json=first, timeout=10).status_code == 200
    again = requests.post(f"{url}webhooks/mailgun", json=first, timeout=10)
    forged = {**first, "event-data": {"event": "unsubscribed", "recipient": "kept@example.org"}}
    other = requests.post(f"{url}webhooks/mailgun", json=forged, timeout=10)
    assert (again.status_code, other.status_code) == (409, 409)
    assert "received before" in other.json()["error"]
    assert suppressions(settings) == {"spam@example.org": "complained"}


def test_a_replayed_sendgrid_request_changes_nothing_even_after_a_restart(
    settings: Settings, port: int
) -> None:
    write_list(settings.root, [])
    events = [{"email": "gone@example.org", "event": "bounce", "type": "bounce"}]
    body = json.dumps(events).encode()
    with served(settings, port, environ=ENVIRON) as (url, _):
        first = sendgrid(url, events)
        headers = first.request.headers
        assert first.status_code == 200
    with Ledger.open(settings) as ledger:
        ledger.unsuppress("gone@example.org")  # the person signed up again, say
    with served(settings, port, environ=ENVIRON) as (url, _):  # a restart: tokens are durable
        replay = requests.post(f"{url}webhooks/sendgrid", data=body, timeout=10, headers={
            k: v for k, v in headers.items() if k.lower().startswith(("x-twilio", "content-t"))
        })  # fmt: skip
    assert replay.status_code == 409
    assert suppressions(settings) == {}


def test_tokens_are_forgotten_once_their_signatures_are_stale(
    settings: Settings, port: int
) -> None:
    write_list(settings.root, [])
    clock = Clock()
    with served(settings, port, clock=clock, environ=ENVIRON) as (url, _):
        body = mailgun_body({"event": "complained", "recipient": "spam@example.org"})
        assert requests.post(f"{url}webhooks/mailgun", json=body, timeout=10).status_code == 200
        assert tokens(settings) == 1
        clock.advance(dt.timedelta(hours=2))
        stale = requests.post(f"{url}webhooks/mailgun", json=body, timeout=10)
        fresh = mailgun_body({"event": "complained", "recipient": "other@example.org"},
                             age=-7200)  # fmt: skip  # signed "now" on the moved clock
        assert requests.post(f"{url}webhooks/mailgun", json=fresh, timeout=10).status_code == 200
    assert stale.status_code == 403  # refused as stale, so its token need not be kept
    assert tokens(settings) == 1  # the first was pruned when the second came in


def tokens(settings: Settings) -> int:
    with Ledger.open(settings) as ledger:
        return int(ledger.engine.query("SELECT COUNT(*) FROM webhook_tokens")[0][0])
