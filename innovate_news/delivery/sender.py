"""Sending an issue to the list: hand each planned copy over exactly once, recording as we go."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from innovate_news.audience.subscribers import Subscriber
from innovate_news.delivery.plan import Composer, Plan
from innovate_news.delivery.providers.base import Limits, Provider
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.delivery.providers.pacing import backoff
from innovate_news.errors import ExitCode, SendError, TransientError
from innovate_news.mail import Receipt
from innovate_news.store.ledger import Ledger

REHEARSAL_CHUNK = 200


@dataclass
class SendSummary:
    """What a send did (or, for a dry run or a declined one, would have done)."""

    planned: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    skipped: int = 0  # suppressed (or taken by another run) after the plan was made
    suppressed_now: int = 0  # addresses the provider reported dead, now suppressed
    seconds: float = 0.0
    stopped: str = ""  # why the run ended before its plan did
    interrupted: bool = False
    plan: Plan | None = None  # the plan the run followed
    declined: bool = False  # the plan was shown and the sender said no
    rehearsed: int = 0  # a dry run: copies built and handed to no one
    rehearsed_bytes: int = 0

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.deferred + self.unknown + self.skipped

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed or self.deferred or self.unknown or self.stopped:
            return ExitCode.FAILED_RECIPIENTS
        return ExitCode.OK

    def line(self) -> str:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        return (
            f"Sent {self.sent}, failed {self.failed}, deferred {self.deferred}, unknown "
            f"{self.unknown}, skipped {self.skipped} of {self.planned} in {self.seconds:.1f} s "
            f"({rate:.0f}/s)."
        )


@dataclass(frozen=True)
class _Outcome:
    """One attempt at a batch: who should be tried again, and when the server allows it."""

    retry: list[Subscriber]
    wait: float | None = None
    unreachable: str = ""  # set when nothing could be handed over at all


class Sender:
    """Runs a plan through a provider; safe to stop at any point.

    Hand-overs run in `provider.limits.concurrency` threads. Each batch is marked `sending` in
    the ledger (committed) before the provider sees it, and its receipts are recorded after.
    Setting `stop` (the CLI does on Ctrl-C) lets every hand-over in flight finish and be
    recorded, then ends the run.
    """

    def __init__(
        self,
        ledger: Ledger,
        provider: Provider,
        composer: Composer,
        stop: threading.Event | None = None,
        daily_cap: int | None = None,
    ):
        self.ledger = ledger
        self.provider = provider
        self.composer = composer
        self.stop = stop or threading.Event()
        self.daily_cap = daily_cap
        self.summary = SendSummary()
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def run(self, plan: Plan, tick: Callable[[SendSummary], None] | None = None) -> SendSummary:
        """Send the plan; returns the summary, or raises the SendError that ended the run."""
        summary = self.summary
        summary.planned = len(plan.recipients)
        started = time.monotonic()
        if plan.added:
            self.ledger.add(plan.issue, plan.added)
        recipients = self._within_daily_cap(plan)
        if recipients:
            with contextlib.suppress(TransientError):  # the first batch retries, then gives up
                self.provider.open()
        batches = _batches(recipients, plan.variants, self.provider.limits)
        count = min(self.provider.limits.concurrency, max(1, len(recipients)))
        workers = [
            threading.Thread(target=self._work, args=(plan, batches), daemon=True)
            for _ in range(count)
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(0.2)
                    if tick:
                        tick(summary)
        finally:
            summary.seconds = time.monotonic() - started
        if self._error is not None:
            raise self._error
        summary.interrupted = self.stop.is_set() and not summary.stopped
        return summary

    def _within_daily_cap(self, plan: Plan) -> Sequence[Subscriber]:
        if self.daily_cap is None:
            return plan.recipients
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        room = max(0, self.daily_cap - self.ledger.sent_since(since, self.provider.name))
        if room < len(plan.recipients):
            self.summary.stopped = (
                f"the daily cap of {self.daily_cap} messages leaves room for {room} now; "
                "rerun tomorrow to send the rest"
            )
        return plan.recipients[:room]

    def _work(self, plan: Plan, batches: Iterator[list[Subscriber]]) -> None:
        try:
            while not self.stop.is_set():
                with self._lock:
                    batch = next(batches, None)
                if batch is None:
                    return
                self._batch(plan, batch)
        except BaseException as exc:
            with self._lock:
                self._error = self._error or exc
            self.stop.set()

    def _batch(self, plan: Plan, batch: list[Subscriber]) -> None:
        """Try a batch up to max_attempts times; what is still deferred then waits for a rerun."""
        limits = self.provider.limits
        waiting = batch
        outcome = _Outcome(retry=batch)
        for attempt in range(1, limits.max_attempts + 1):
            outcome = self._attempt(plan, waiting)
            waiting = outcome.retry
            if not waiting or self.stop.is_set() or attempt == limits.max_attempts:
                break
            delay = outcome.wait if outcome.wait is not None else backoff(attempt, limits.backoff)
            if delay > limits.max_wait:
                self._give_up(
                    f"{self.provider.name} asked to wait {delay:.0f} s, more than max_wait "
                    f"({limits.max_wait:.0f} s)"
                )
                break
            self.stop.wait(delay)
        with self._lock:
            self.summary.deferred += len(waiting)
        if waiting and outcome.unreachable and not self.stop.is_set():
            self._give_up(f"{outcome.unreachable}; stopped after {limits.max_attempts} attempts")

    def _attempt(self, plan: Plan, waiting: list[Subscriber]) -> _Outcome:
        messages = [self.composer.compose(s) for s in waiting]
        allowed = ["pending", "deferred"] + (["unknown"] if plan.resend_unknown else [])
        addresses = [m.address for m in messages]
        marked = set(self.ledger.begin(plan.issue, addresses, self.provider.name, allowed))
        with self._lock:
            self.summary.skipped += len(messages) - len(marked)
        messages = [m for m in messages if m.address in marked]
        if not messages:
            return _Outcome(retry=[])
        addresses = [m.address for m in messages]
        try:
            receipts = self.provider.send(messages)
        except TransientError as exc:
            self.ledger.release(plan.issue, addresses, "deferred", str(exc))
            retry = [s for s in waiting if s.normalised in marked]
            return _Outcome(retry, exc.retry_after, f"{self.provider.name}: {exc}")
        except SendError as exc:
            self.ledger.release(plan.issue, addresses, "pending", str(exc))
            raise
        self._record(plan, receipts)
        again = {r.address for r in receipts if r.status == "deferred"}
        waits = [r.retry_after for r in receipts if r.retry_after is not None]
        return _Outcome([s for s in waiting if s.normalised in again], max(waits, default=None))

    def _give_up(self, reason: str) -> None:
        with self._lock:
            self.summary.stopped = self.summary.stopped or reason
        self.stop.set()

    def _record(self, plan: Plan, receipts: list[Receipt]) -> None:
        self.ledger.finish(plan.issue, receipts)
        tally = Counter(r.status for r in receipts)
        with self._lock:
            summary = self.summary
            summary.sent += tally["sent"]
            summary.failed += tally["failed"]
            summary.unknown += tally["unknown"]
            summary.suppressed_now += sum(1 for r in receipts if r.suppress)


def _batches(
    recipients: Sequence[Subscriber], variants: dict[frozenset[str], str], limits: Limits
) -> Iterator[list[Subscriber]]:
    """Chunks of at most batch_size; of one variant each when the provider needs that."""
    size = max(1, limits.batch_size)
    if limits.one_variant_per_batch:
        groups: Iterator[list[Subscriber]] = (
            list(group)
            for _, group in itertools.groupby(recipients, key=lambda s: variants[s.topics])
        )
    else:
        groups = iter([list(recipients)])
    for members in groups:
        for start in range(0, len(members), size):
            yield members[start : start + size]


def send_tests(
    ledger: Ledger,
    provider: Provider,
    composer: Composer,
    issue: str,
    recipients: Sequence[Subscriber],
) -> list[Receipt]:
    """`--to` test sends: each copy marked [TEST] and recorded apart from the list."""
    provider.open()
    receipts: list[Receipt] = []
    for subscriber in recipients:
        (receipt,) = provider.send([composer.compose(subscriber, test=True)])
        ledger.record_test(issue, provider.name, receipt)
        receipts.append(receipt)
    return receipts


def rehearse(plan: Plan, composer: Composer) -> MemoryProvider:
    """--dry-run: build every copy and hand it to an in-memory provider; nothing leaves."""
    memory = MemoryProvider(keep=False)
    for start in range(0, len(plan.recipients), REHEARSAL_CHUNK):
        chunk = plan.recipients[start : start + REHEARSAL_CHUNK]
        memory.send([composer.compose(s) for s in chunk])
    return memory
