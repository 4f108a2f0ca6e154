"""The shared database going away: stores reconnect after a restart, and a send whose server
stops mid-run stops cleanly, marks nothing it did not hand over, and a rerun sends the rest,
each recipient exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from innovate_news.audience import subscribers
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.errors import LedgerError
from innovate_news.mail import Message, Receipt
from innovate_news.store import postgres
from innovate_news.store.ledger import Ledger
from tests.support.postgres import PostgresServer
from tests.support.servers import ISSUE, SimpleComposer, deliver, write_list
from tests.support.stores import own_server

BATCH = 5


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with own_server() as started:
        yield started


@pytest.fixture
def url(server: PostgresServer) -> str:
    if not server.running:  # a test that failed half-way may have left it stopped
        server.restart()
    url = server.create_database()
    postgres.migrate(url)
    return url


def test_a_store_reconnects_after_the_server_restarts(server: PostgresServer, url: str) -> None:
    with Ledger(postgres.connect(url, Ledger.what)) as ledger:
        ledger.add(ISSUE, ["a@example.org"])
        server.restart()
        assert ledger.states(ISSUE) == {"a@example.org": "pending"}  # a read, on a new connection
        server.restart()
        assert ledger.suppress("b@example.org", "unsubscribed", "one-click")  # and a write
        server.stop()
        with pytest.raises(LedgerError, match="INNOVATE_NEWS_DATABASE_URL"):
            ledger.states(ISSUE)  # down: a clear error, not a hang
        server.restart()
        assert ledger.is_suppressed("b@example.org")


class StopsTheServer(MemoryProvider):
    """Hands batches over; then stops the database at the chosen point of the chosen batch."""

    def __init__(self, server: PostgresServer, batch: int):
        super().__init__(Limits(batch_size=BATCH, backoff=0.0))
        self.server = server
        self.batch = batch
        self.batches = 0

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        receipts = super().send(batch)  # handed over ...
        self.batches += 1
        if self.batches == self.batch:
            self.server.stop()  # ... and the database goes before their receipts are recorded
        return receipts


class StopsBeforeMarking(SimpleComposer):
    """Builds copies; stops the database while building the copies of one recipient, which
    the sender does before it marks the batch they are in."""

    def __init__(self, server: PostgresServer, address: str):
        super().__init__()
        self.server, self.address = server, address

    def compose(self, subscriber: Any, test: bool = False) -> Any:
        if subscriber.normalised == self.address and self.server.running:
            self.server.stop()
        return super().compose(subscriber, test)


@pytest.mark.parametrize("where", ["after a hand-over", "before a batch is marked"])
def test_a_send_whose_database_stops_resumes_each_recipient_exactly_once(
    server: PostgresServer, url: str, tmp_path: Path, where: str
) -> None:
    listing = subscribers.read(write_list(tmp_path, 17))
    if where == "after a hand-over":
        first: MemoryProvider = StopsTheServer(server, batch=2)
        composer = SimpleComposer()
    else:
        first = MemoryProvider(Limits(batch_size=BATCH, backoff=0.0))
        composer = StopsBeforeMarking(server, "r011@example.org")  # the first of batch 3
    with (
        Ledger(postgres.connect(url, Ledger.what)) as ledger,
        pytest.raises(LedgerError, match="PostgreSQL database"),
    ):
        deliver(ledger, first, listing, composer)
    handed = [m.address for m in first.messages]
    server.restart()
    with Ledger(postgres.connect(url, Ledger.what)) as ledger:
        states = ledger.states(ISSUE)
    marked = {a for a, s in states.items() if s != "pending"}
    assert marked == set(handed)  # nothing marked that was not handed over, and the reverse
    if where == "after a hand-over":
        assert Counter(states.values()) == {"sent": 5, "sending": 5, "pending": 7}
    else:
        assert Counter(states.values()) == {"sent": 10, "pending": 7}
    second = MemoryProvider(Limits(batch_size=BATCH, backoff=0.0))
    with Ledger(postgres.connect(url, Ledger.what)) as ledger:
        summary = deliver(ledger, second, listing)
        final = ledger.states(ISSUE)
    received = Counter(handed + [m.address for m in second.messages])
    assert set(received) == {s.normalised for s in listing.subscribers}
    assert set(received.values()) == {1}  # each exactly once
    unknown = {a for a, s in final.items() if s == "unknown"}  # handed over, receipt lost
    assert unknown == (set(handed[5:]) if where == "after a hand-over" else set())
    assert summary.sent == 17 - len(handed)
