"""The ledger: states around each hand-over, recovery, snapshots, suppressions and the lock."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from innovate_news.audience import subscribers
from innovate_news.delivery.plan import Options, plan
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.errors import IssueLockedError, LedgerError
from innovate_news.mail import Message, Receipt
from innovate_news.store.ledger import Ledger
from tests.support.servers import ISSUE, SimpleComposer, deliver, write_list


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite3")


def test_begin_commits_sending_before_the_hand_over(ledger: Ledger, tmp_path: Path) -> None:
    ledger.add(ISSUE, ["a@example.org", "b@example.org"])
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"]) == ["a@example.org"]
    # A second connection (another process) already sees the committed state.
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as other:
        rows = dict(other.execute("SELECT address, state FROM deliveries").fetchall())
    assert rows == {"a@example.org": "sending", "b@example.org": "pending"}
    ledger.finish(ISSUE, [Receipt("a@example.org", "sent", provider_id="Q1")])
    (row,) = ledger.deliveries(ISSUE, ("sent",))
    assert (row.address, row.attempts, row.provider, row.provider_id) == (
        "a@example.org",
        1,
        "smtp",
        "Q1",
    )


def test_a_row_is_never_handed_over_twice(ledger: Ledger) -> None:
    ledger.add(ISSUE, ["a@example.org"])
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"]) == ["a@example.org"]
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending", "deferred"]) == []
    ledger.finish(ISSUE, [Receipt("a@example.org", "sent")])
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending", "deferred", "unknown"]) == []


def test_a_crash_between_hand_over_and_record_becomes_unknown(ledger: Ledger) -> None:
    ledger.add(ISSUE, ["a@example.org", "b@example.org"])
    ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"])
    # ... the process dies here; the next run recovers:
    assert ledger.recover(ISSUE) == 1
    (row,) = ledger.deliveries(ISSUE, ("unknown",))
    assert row.address == "a@example.org" and "may or may not" in row.last_error
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending", "deferred"]) == []


def test_suppression_is_checked_again_at_the_hand_over(ledger: Ledger) -> None:
    ledger.add(ISSUE, ["a@example.org", "b@example.org"])
    assert ledger.suppress("a@example.org", "unsubscribed", "one-click")
    assert not ledger.suppress("a@example.org", "bounced", "webhook")  # already suppressed
    assert ledger.begin(ISSUE, ["a@example.org", "b@example.org"], "smtp", ["pending"]) == [
        "b@example.org"
    ]
    assert ledger.is_suppressed("a@example.org") and not ledger.is_suppressed("b@example.org")
    (entry,) = ledger.suppressions()
    assert (entry.address, entry.reason, entry.source) == (
        "a@example.org",
        "unsubscribed",
        "one-click",
    )
    with pytest.raises(LedgerError, match="unknown suppression reason"):
        ledger.suppress("c@example.org", "bored", "test")


def test_release_puts_rows_back_without_counting_an_attempt(ledger: Ledger) -> None:
    ledger.add(ISSUE, ["a@example.org"])
    ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"])
    ledger.release(ISSUE, ["a@example.org"], "pending", "auth refused")
    (row,) = ledger.deliveries(ISSUE)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, "auth refused")


def test_errors_are_stored_without_secrets(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SMTP_PASSWORD", "hunter2-hunter2")
    ledger.add(ISSUE, ["a@example.org"])
    ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"])
    ledger.finish(ISSUE, [Receipt("a@example.org", "failed", error="bad hunter2-hunter2 login")])
    (row,) = ledger.deliveries(ISSUE)
    assert "hunter2" not in row.last_error and "[redacted]" in row.last_error


def test_the_daily_count_spans_runs_and_issues(ledger: Ledger) -> None:
    ledger.add("one", ["a@example.org"])
    ledger.add("two", ["b@example.org", "c@example.org"])
    for issue, address in (("one", "a@example.org"), ("two", "b@example.org")):
        ledger.begin(issue, [address], "smtp", ["pending"])
        ledger.finish(issue, [Receipt(address, "sent")])
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert ledger.sent_since(since, "smtp") == 2
    assert ledger.sent_since(since, "postmark") == 0


def test_the_snapshot_is_taken_at_first_send_and_new_subscribers_wait(
    ledger: Ledger, tmp_path: Path
) -> None:
    listing = subscribers.read(write_list(tmp_path, 3))
    first = plan(ledger, ISSUE, "s", listing, SimpleComposer(), Options("memory", limit=1))
    assert first.first_send and len(first.recipients) == 1 and first.held_back == 2
    assert set(first.added) == {"r001@example.org", "r002@example.org", "r003@example.org"}
    deliver(ledger, MemoryProvider(), listing, limit=1)
    grown = subscribers.read(write_list(tmp_path, 5))
    later = plan(ledger, ISSUE, "s", grown, SimpleComposer(), Options("memory"))
    assert (later.new, len(later.recipients), later.already_sent) == (2, 2, 1)
    included = plan(
        ledger, ISSUE, "s", grown, SimpleComposer(), Options("memory", include_new=True)
    )
    assert len(included.recipients) == 4 and set(included.added) == {
        "r004@example.org",
        "r005@example.org",
    }
    shrunk = subscribers.read(write_list(tmp_path, 2))
    assert plan(ledger, ISSUE, "s", shrunk, SimpleComposer(), Options("memory")).removed == 1


def test_memory_provider_failures_are_recorded_per_recipient(
    ledger: Ledger, tmp_path: Path
) -> None:
    def script(message: Message, attempt: int) -> Receipt | None:
        if message.address == "r002@example.org":
            return Receipt(message.address, "failed", error="550 no", suppress="bounced")
        if message.address == "r003@example.org" and attempt < 3:
            return Receipt(message.address, "deferred", error="451 later")
        return None

    memory = MemoryProvider(Limits(batch_size=10, backoff=0.0), script=script)
    summary = deliver(ledger, memory, subscribers.read(write_list(tmp_path, 4)))
    assert (summary.sent, summary.failed, summary.deferred) == (3, 1, 0)
    assert sorted(m.address for m in memory.messages) == [
        "r001@example.org", "r003@example.org", "r004@example.org",
    ]  # fmt: skip
    assert memory.attempts["r003@example.org"] == 3 and ledger.is_suppressed("r002@example.org")


def test_a_second_holder_of_the_issue_lock_fails_at_once_naming_the_first(
    ledger: Ledger, tmp_path: Path
) -> None:
    with ledger.lock(ISSUE):
        other = Ledger(tmp_path / "ledger.sqlite3")
        with pytest.raises(IssueLockedError, match=r"being sent by pid \d+ on "), other.lock(ISSUE):
            pass
        with other.lock("another-issue"):
            pass
    with ledger.lock(ISSUE):  # released on leaving
        pass


def test_the_lock_dies_with_its_process(ledger: Ledger, tmp_path: Path) -> None:
    database = str(tmp_path / "ledger.sqlite3")
    code = (
        "import os; from pathlib import Path; from innovate_news.store.ledger import Ledger;"
        f"lock = Ledger(Path({database!r})).lock({ISSUE!r}); lock.__enter__(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    with ledger.lock(ISSUE):
        pass


OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from innovate_news.store.ledger import Ledger
while time.time() < float(sys.argv[2]):  # start together, as two first sends would
    time.sleep(0.001)
Ledger(Path(sys.argv[1])).close()
"""


def test_processes_opening_a_new_ledger_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.sqlite3"
    start = f"{time.time() + 1.5}"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, str(path), start],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    errors = [run.communicate(timeout=60)[1] for run in runs]
    assert [run.returncode for run in runs] == [0] * 8, errors
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
