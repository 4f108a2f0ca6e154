"""Requests as the providers' own limits shape them: framing, size, one bad address, 406s."""

from __future__ import annotations

from pathlib import Path

import pytest

from innovate_news.delivery.providers import postmark
from innovate_news.store.ledger import Ledger
from tests.delivery.test_http_providers import NAMES, make, people
from tests.support.servers import ISSUE, Api, api_server, deliver, numbered
from tests.support.stores import StoreBackend


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    """The ledger on each store backend in turn."""
    return store_backend.ledger(tmp_path / "state" / "ledger.sqlite3")


@pytest.mark.parametrize("name", NAMES)
def test_request_bodies_carry_a_content_length_and_are_not_chunked(
    ledger: Ledger, tmp_path: Path, name: str
) -> None:
    api = Api()
    with api_server(api) as server:
        summary = deliver(ledger, make(name, server.url), people(tmp_path, 3))
    assert summary.sent == 3 and api.framing
    for headers in api.framing:
        assert "transfer-encoding" not in headers
        assert int(headers["content-length"]) > 0


def test_postmark_batches_are_cut_by_size_as_well_as_by_count(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postmark, "MAX_REQUEST_BYTES", 2_000)  # two of these messages, not three
    api = Api()
    with api_server(api) as server:
        summary = deliver(ledger, make("postmark", server.url), people(tmp_path, 7))
    assert summary.sent == 7 and numbered(api.received()) == [1, 2, 3, 4, 5, 6, 7]
    assert [count for _, count in api.requests] == [2, 2, 2, 1]
    assert all(int(h["content-length"]) <= 2_000 for h in api.framing)


def test_a_failing_later_part_of_a_postmark_batch_never_resends_the_first(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postmark, "MAX_REQUEST_BYTES", 2_000)
    api = Api(poisoned={"r004@example.org"})  # the second request of the batch gets a 500
    listing = people(tmp_path, 6)
    with api_server(api) as server:
        deliver(ledger, make("postmark", server.url, max_attempts=2), listing)
        assert numbered(api.received()) == [1, 2]
        states = {d.address: d.state for d in ledger.deliveries(ISSUE)}
        assert [states[f"r00{i}@example.org"] for i in (1, 2)] == ["sent", "sent"]
        assert {states[f"r00{i}@example.org"] for i in (3, 4, 5, 6)} <= {"deferred", "pending"}
        api.poisoned.clear()
        deliver(ledger, make("postmark", server.url), listing)
    assert numbered(api.received()) == [1, 2, 3, 4, 5, 6]  # each exactly once


@pytest.mark.parametrize("names_it", [False, True], ids=["unnamed", "named"])
def test_one_address_mailgun_finds_invalid_fails_alone_and_the_rest_are_sent(
    ledger: Ledger, tmp_path: Path, names_it: bool
) -> None:
    api = Api(mailgun_invalid={"r006@example.org"}, mailgun_names_invalid=names_it)
    with api_server(api) as server:
        summary = deliver(ledger, make("mailgun", server.url), people(tmp_path, 9))
    assert (summary.sent, summary.failed, summary.deferred) == (8, 1, 0)
    assert numbered(api.received()) == [1, 2, 3, 4, 5, 7, 8, 9]
    (failed,) = ledger.deliveries(ISSUE, ("failed",))
    assert failed.address == "r006@example.org" and "not a valid address" in failed.last_error
    assert not ledger.is_suppressed("r006@example.org")
    refused = sum(1 for path, _ in api.requests if path == "/refused")
    assert refused <= (1 if names_it else 8)  # halving: a few requests, never one per person


def test_a_postmark_406_is_suppressed_for_the_reason_postmark_holds(
    ledger: Ledger, tmp_path: Path
) -> None:
    api = Api(postmark_suppressed={"broadcast": {
        "r001@example.org": ("ManualSuppression", "Recipient"),  # unsubscribed through Postmark
        "r002@example.org": ("HardBounce", "Recipient"),
        "r003@example.org": ("SpamComplaint", "Recipient"),
        "r004@example.org": ("ManualSuppression", "Customer"),  # suppressed by hand
    }})  # fmt: skip
    with api_server(api) as server:
        summary = deliver(ledger, make("postmark", server.url), people(tmp_path, 5))
    assert (summary.sent, summary.failed) == (1, 4)
    reasons = {s.address: s.reason for s in ledger.suppressions()}
    assert reasons == {
        "r001@example.org": "unsubscribed",
        "r002@example.org": "bounced",
        "r003@example.org": "complained",
        "r004@example.org": "manual",
    }


def test_a_postmark_406_without_an_answer_about_why_is_a_bounce(
    ledger: Ledger, tmp_path: Path
) -> None:
    inactive = "You tried to send to recipient(s) that have been marked as inactive."
    api = Api(postmark_codes={"r001@example.org": (406, inactive)})  # not on any dump
    with api_server(api) as server:
        deliver(ledger, make("postmark", server.url), people(tmp_path, 2))
    assert [(s.address, s.reason) for s in ledger.suppressions()] == [
        ("r001@example.org", "bounced")
    ]


def test_a_message_over_the_size_cap_goes_in_a_request_of_its_own(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postmark, "MAX_REQUEST_BYTES", 10)
    api = Api()
    with api_server(api) as server:
        summary = deliver(ledger, make("postmark", server.url), people(tmp_path, 3))
    assert summary.sent == 3 and [count for _, count in api.requests] == [1, 1, 1]
