"""One mailbox, one copy: spellings of an address that differ in case are one person, in the
list, the plan, the ledger (old ledgers included) and on the wire (a real SMTP server)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from innovate_news.audience import subscribers
from innovate_news.store.ledger import Ledger
from tests.delivery.test_smtp import make_provider
from tests.support.servers import ISSUE, SmtpHandler, deliver, smtp_server

OLD_ROWS = [  # as a version that filed rows under the list's spelling left them
    ("Ann@example.org", "sent"),
    ("ann@example.org", "pending"),  # the same person again: that version would mail her twice
    ("Bob@example.org", "pending"),
    ("CAROL@example.org", "pending"),
    ("carol@example.org", "sent"),
    ("Dan@example.org", "sent"),
]


def old_ledger(path: Path) -> None:
    Ledger(path).close()  # today's schema; the rows below are what an older version wrote
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE filed_by_key")  # an older version knew nothing of it
        db.execute("INSERT INTO issues (issue, snapshot_at) VALUES (?, 'then')", (ISSUE,))
        db.executemany(
            "INSERT INTO deliveries (issue, address, seq, state, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'then', 'then')",
            [(ISSUE, a, n, s) for n, (a, s) in enumerate(OLD_ROWS, start=1)],
        )
    db.close()


def listing(tmp_path: Path, text: str) -> subscribers.SubscriberList:
    path = tmp_path / "list.csv"
    path.write_text("email,name\n" + text, encoding="utf-8")
    return subscribers.read(path)


def test_an_older_ledgers_mixed_case_rows_are_filed_by_key_and_nobody_gets_a_second_copy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "ledger.sqlite3"
    old_ledger(path)
    ledger = Ledger(path)  # opening it files every row under its key, the furthest along kept
    assert ledger.states(ISSUE) == {
        "ann@example.org": "sent",
        "bob@example.org": "pending",
        "carol@example.org": "sent",
        "dan@example.org": "sent",
    }
    people = listing(
        tmp_path,
        "ann@example.org,Ann\nBOB@example.org,Bob\nCarol@Example.org,Carol\ndan@EXAMPLE.org,D\n",
    )
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port), people)
    assert summary.sent == 1 and handler.received() == Counter({"BOB@example.org": 1})
    assert ledger.states(ISSUE)["bob@example.org"] == "sent"
    ledger.close()
    assert Ledger(path).states(ISSUE) == dict.fromkeys(
        ("ann@example.org", "bob@example.org", "carol@example.org", "dan@example.org"), "sent"
    )


def test_a_mixed_case_address_is_retried_and_recorded_under_its_key(tmp_path: Path) -> None:
    people = listing(tmp_path, "Ann.Lee@Example.org,Ann\nann.lee@example.org,Again\n")
    assert [d.line for d in people.duplicates] == [3]

    def script(stage: str, address: str, attempt: int) -> str | None:
        return "451 4.3.0 try again" if attempt == 1 and stage == "rcpt" else None

    handler = SmtpHandler(script=script)
    ledger = Ledger(tmp_path / "state" / "ledger.sqlite3")
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port), people)
    assert (summary.sent, summary.deferred) == (1, 0)
    assert handler.received() == Counter({"Ann.Lee@example.org": 1})  # as written, once
    assert ledger.states(ISSUE) == {"ann.lee@example.org": "sent"}
    (row,) = ledger.deliveries(ISSUE)
    assert row.attempts == 2
