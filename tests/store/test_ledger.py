"""The ledger: states around each hand-over, recovery, snapshots, suppressions and the lock,
on each store backend (SQLite and PostgreSQL) but where a test is about SQLite's files."""

from __future__ import annotations

import contextlib
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
from innovate_news.store.versions import Version
from tests.support.servers import ISSUE, SimpleComposer, deliver, write_list
from tests.support.stores import StoreBackend


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    return store_backend.ledger(tmp_path / "ledger.sqlite3")


def test_begin_commits_sending_before_the_hand_over(
    ledger: Ledger, store_backend: StoreBackend, tmp_path: Path
) -> None:
    ledger.add(ISSUE, ["a@example.org", "b@example.org"])
    assert ledger.begin(ISSUE, ["a@example.org"], "smtp", ["pending"]) == ["a@example.org"]
    # A second connection (another process) already sees the committed state.
    with store_backend.ledger(tmp_path / "ledger.sqlite3") as other:
        rows = other.states(ISSUE)
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
    ledger: Ledger, store_backend: StoreBackend, tmp_path: Path
) -> None:
    with ledger.lock(ISSUE):
        other = store_backend.ledger(tmp_path / "ledger.sqlite3")
        with pytest.raises(IssueLockedError, match=r"being sent by pid \d+ on "), other.lock(ISSUE):
            pass
        with other.lock("another-issue"):
            pass
    with ledger.lock(ISSUE):  # released on leaving
        pass


def test_the_lock_dies_with_its_process(
    ledger: Ledger, store_backend: StoreBackend, tmp_path: Path
) -> None:
    opened = store_backend.opener(tmp_path / "ledger.sqlite3")
    code = (
        "import os; from pathlib import Path; from innovate_news.store.ledger import Ledger;"
        "from innovate_news.store import postgres;"
        f"lock = {opened}.lock({ISSUE!r}); lock.__enter__(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    with ledger.lock(ISSUE):
        pass


def test_each_mark_records_its_version_and_a_version_is_kept_from_its_first_copy(
    ledger: Ledger,
) -> None:
    first = Version.of("all", "Issue 7", "In short", "<p>Hi {{html_name}}</p>", "Hi {{name}}\n")
    second = Version.of("all", "CORRECTED: Issue 7", "In short", "<p>Hi</p>", "Hi {{name}}\n")
    a, b, c = "a@example.org", "b@example.org", "c@example.org"
    ledger.add(ISSUE, [a, b, c])
    ledger.stamp(ISSUE, {a: first, b: first})
    assert ledger.versions(ISSUE) == []  # nothing has gone out yet
    ledger.begin(ISSUE, [a], "smtp", ["pending"])
    ledger.finish(ISSUE, [Receipt(a, "sent")])
    (kept,) = ledger.versions(ISSUE)
    assert (kept.variant, kept.digest, kept.subject, kept.preheader, kept.text) == (
        "all", first.digest, "Issue 7", "In short", "Hi {{name}}\n",
    )  # fmt: skip
    assert kept.first_at and ledger.current_versions(ISSUE) == {"all": kept}
    ledger.stamp(ISSUE, {b: second})
    ledger.begin(ISSUE, [b], "smtp", ["pending"])
    ledger.release(ISSUE, [b], "deferred", "421 busy")  # the second version never went out
    assert ledger.current_versions(ISSUE)["all"].digest == first.digest
    ledger.begin(ISSUE, [b], "smtp", ["deferred"])
    ledger.finish(ISSUE, [Receipt(b, "sent")])
    assert ledger.current_versions(ISSUE)["all"].digest == second.digest
    assert [v.digest for v in ledger.versions(ISSUE)] == [first.digest, second.digest]
    assert ledger.version_counts(ISSUE) == {
        first.digest: {"sent": 1}, second.digest: {"sent": 1}, "": {"pending": 1},
    }  # fmt: skip


def test_a_ledger_from_before_versions_were_kept_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old, old:
        old.execute(
            "CREATE TABLE deliveries (issue TEXT NOT NULL, address TEXT NOT NULL, seq INTEGER "
            "NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, provider TEXT "
            "NOT NULL DEFAULT '', provider_id TEXT NOT NULL DEFAULT '', last_error TEXT NOT "
            "NULL DEFAULT '', added_at TEXT NOT NULL, updated_at TEXT NOT NULL, sent_at TEXT, "
            "PRIMARY KEY (issue, address)) WITHOUT ROWID"
        )
        old.execute(
            "INSERT INTO deliveries (issue, address, seq, state, added_at, updated_at) "
            "VALUES (?, 'a@example.org', 1, 'sent', 'then', 'then')",
            (ISSUE,),
        )
    ledger = Ledger(path)
    assert ledger.version_counts(ISSUE) == {"": {"sent": 1}}
    assert Ledger(path).states(ISSUE) == {"a@example.org": "sent"}  # a second open is a no-op


def test_the_plan_says_why_snapshot_rows_are_left_out_and_removed_means_off_the_list(
    ledger: Ledger, tmp_path: Path
) -> None:
    class NothingForBlog(SimpleComposer):
        def variant_key(self, topics: frozenset[str]) -> str | None:
            return None if topics == {"blog"} else "all"

    listing = subscribers.read(write_list(tmp_path, 7))
    deliver(ledger, MemoryProvider(), listing, limit=1)  # r001 sent, the rest pending
    ledger.suppress("r003@example.org", "unsubscribed", "one-click")
    ledger.erase("r004@example.org", "erased:k1:0123abcd", "request")
    (tmp_path / "subscribers.csv").write_text(
        "email,name,status,topics\nr001@example.org,A,subscribed,\n"
        "r002@example.org,B,subscribed,blog\nr003@example.org,C,subscribed,\n"
        "r006@example.org,F,unsubscribed,\nr007@example.org,G,subscribed,\n",
        encoding="utf-8",
    )  # r004 erased and r005 taken off the list; r002 now wants only what this issue lacks
    later = plan(
        ledger, ISSUE, "s", subscribers.read(tmp_path / "subscribers.csv"), NothingForBlog(),
        Options("memory"),
    )  # fmt: skip
    assert [s.normalised for s in later.recipients] == ["r007@example.org"]
    assert later.removed == 1
    assert later.left_out == {"no_content": 1, "suppressed": 1, "erased": 1, "not_subscribed": 1}
    assert (
        "not sent: 1 no longer on the list, 1 unsubscribed or bounced in the list, "
        "1 suppressed since, 1 erased, 1 with nothing in this issue for their topics now"
    ) in "\n".join(later.lines())


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


def test_snapshots_keep_order_and_one_row_per_mailbox(ledger: Ledger) -> None:
    """The first snapshot of an issue goes in at once (COPY on PostgreSQL), a later one row by
    row: both file an address once, however it is spelt, in the order given."""
    first = ["b@example.org", "A@example.org", "a@example.org", "c@example.org", "B@example.org"]
    assert ledger.add(ISSUE, first) == 3
    assert ledger.add(ISSUE, ["d@example.org", "C@example.org", "d@example.org"]) == 1
    assert list(ledger.states(ISSUE)) == [
        "b@example.org", "a@example.org", "c@example.org", "d@example.org"
    ]  # fmt: skip
    assert ledger.add(ISSUE, first) == 0
