"""An issue edited after part of the list has it: judged per variant, refused before anything is
sent, sent as it is now when the change is accepted, and each copy's version on record."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from innovate_news.audience import subscribers
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.http import Client
from innovate_news.delivery.providers.postmark import PostmarkProvider
from innovate_news.errors import IssueChangedError
from innovate_news.store.ledger import Ledger
from tests.support.servers import (
    ISSUE,
    POSTMARK_TOKEN,
    Api,
    SimpleComposer,
    api_server,
    deliver,
    numbered,
    write_list,
)
from tests.support.stores import StoreBackend

OLD, NEW = "Issue 7: the test issue", "Issue 7: the test issue (corrected)"


def postmark(url: str) -> PostmarkProvider:
    client = Client("postmark", url, 2.0, {"X-Postmark-Server-Token": POSTMARK_TOKEN})
    return PostmarkProvider(client, "broadcast", Limits(batch_size=50, backoff=0.01))


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    """The ledger on each store backend in turn."""
    return store_backend.ledger(tmp_path / "state" / "ledger.sqlite3")


@pytest.fixture
def eight(tmp_path: Path) -> subscribers.SubscriberList:
    """r001-r004 get the event variant, r005-r008 the finding variant."""
    return subscribers.read(write_list(tmp_path, 8, lambda i: "event" if i <= 4 else "finding"))


def subjects(api: Api) -> Counter[str]:
    return Counter(str(fields["Subject"]) for _, fields in api.delivered)


def run(ledger: Ledger, url: str, listing: Any, subject: str, **options: Any) -> Any:
    return deliver(
        ledger, postmark(url), listing, SimpleComposer(subject, variants=True), **options
    )


def test_a_variant_changed_after_its_first_copies_is_refused_until_accepted(
    ledger: Ledger, eight: subscribers.SubscriberList
) -> None:
    api = Api()
    with api_server(api) as server:
        assert run(ledger, server.url, eight, OLD, limit=2).sent == 2  # two of the event variant
        with pytest.raises(IssueChangedError) as refused:
            run(ledger, server.url, eight, NEW)
        assert numbered(api.received()) == [1, 2]  # nothing more went out
        message = str(refused.value)
        assert "Variant event:" in message and "Variant finding" not in message  # none out yet
        assert f"subject:   {OLD!r} -> {NEW!r}" in message and "--accept-changes" in message
        assert run(ledger, server.url, eight, NEW, accept_changes=True).sent == 6
    assert numbered(api.received()) == list(range(1, 9))
    assert subjects(api) == {OLD: 2, NEW: 6}
    by_version = {(v.variant, v.subject): v.digest for v in ledger.versions(ISSUE)}
    assert set(by_version) == {("event", OLD), ("event", NEW), ("finding", NEW)}
    counts = ledger.version_counts(ISSUE)
    assert counts[by_version["event", OLD]] == counts[by_version["event", NEW]] == {"sent": 2}
    assert counts[by_version["finding", NEW]] == {"sent": 4}


def test_a_variant_none_of_whose_copies_went_out_may_change_freely(
    ledger: Ledger, eight: subscribers.SubscriberList
) -> None:
    api = Api()
    with api_server(api) as server:
        assert run(ledger, server.url, eight, OLD, limit=4).sent == 4  # every event copy
        assert run(ledger, server.url, eight, NEW).sent == 4  # the finding variant, first time
    assert subjects(api) == {OLD: 4, NEW: 4}


def test_a_change_undone_is_no_change(ledger: Ledger, eight: subscribers.SubscriberList) -> None:
    api = Api()
    with api_server(api) as server:
        run(ledger, server.url, eight, OLD, limit=1)
        with pytest.raises(IssueChangedError):
            run(ledger, server.url, eight, NEW, limit=1)
        assert run(ledger, server.url, eight, OLD).sent == 7  # put back as it was
    assert subjects(api) == {OLD: 8}
