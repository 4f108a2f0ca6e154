"""Sending an issue to the list: hand each planned copy over exactly once, recording as we go."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from innovate_news.audience.subscribers import Subscriber
from innovate_news.delivery.plan import Composer, Plan
from innovate_news.delivery.providers.base import Limits, Provider, Reporting
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.delivery.providers.pacing import backoff
from innovate_news.errors import ExitCode, QuotaError, SendError, TransientError
from innovate_news.mail import Receipt
from innovate_news.schedule import Gate
from innovate_news.store.ledger import Ledger

REHEARSAL_CHUNK = 200
# Failures are systemic, and end the run, when this many batches in a row are refused whole
# after all their retries (or the first batch is, before anything went through): one bad
# batch is left deferred for a rerun while the rest go on.
SYSTEMIC = 3


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
    quota: str = ""  # the quota or cap that stopped it ("daily sending quota", "hourly cap")
    resume_at: dt.datetime | None = None  # when that quota should have room again, if known
    window: str = ""  # set when [email] window closed before the plan was done: why, and when
    notes: list[str] = field(default_factory=list)  # what the run learnt about the provider
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
        if self.quota:
            return ExitCode.QUOTA
        if self.window:
            return ExitCode.WINDOW
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


DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)


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
        hourly_cap: int | None = None,
        gate: Gate | None = None,
    ):
        self.ledger = ledger
        self.gate = gate  # a scheduled run's window, checked before each batch
        self.provider = provider
        self.composer = composer
        self.stop = stop or threading.Event()
        self.caps = [("daily", cap, DAY) for cap in [daily_cap] if cap is not None]
        self.caps += [("hourly", cap, HOUR) for cap in [hourly_cap] if cap is not None]
        self.summary = SendSummary()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._failing = 0  # batches in a row refused whole after their retries
        self._through = False  # some batch went through

    def run(self, plan: Plan, tick: Callable[[SendSummary], None] | None = None) -> SendSummary:
        """Send the plan; returns the summary, or raises the SendError that ended the run."""
        summary = self.summary
        summary.planned = len(plan.recipients)
        started = time.monotonic()
        if plan.added:
            self.ledger.add(plan.issue, plan.added)
        recipients = self._within_caps(plan)
        with self._lock:
            if self._window_closed():  # no connection opened for nothing
                recipients = []
        if recipients:
            try:
                with contextlib.suppress(TransientError):  # the first batch retries, then gives up
                    self.provider.open()
            except QuotaError as exc:
                self._quota(exc)
                recipients = []
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
            if isinstance(self.provider, Reporting):
                summary.notes = self.provider.notes()
        if self._error is not None:
            raise self._error
        summary.interrupted = self.stop.is_set() and not summary.stopped
        return summary

    def _within_caps(self, plan: Plan) -> Sequence[Subscriber]:
        """The recipients the daily and hourly caps leave room for, counting every run's
        hand-overs through this provider in the ledger; the rest stay pending."""
        recipients = plan.recipients
        now = dt.datetime.now(dt.UTC)
        for name, cap, window in self.caps:
            since = now - window
            used = self.ledger.sent_since(since, self.provider.name)
            room = max(0, cap - used)
            if room >= len(recipients):
                continue
            # Room for one more once the oldest hand-over that keeps the count at the cap is
            # out of the window (this run's own hand-overs are newer than all of those).
            oldest = self.ledger.nth_sent_since(since, self.provider.name, max(0, used - cap))
            resume = (oldest or now) + window
            self._quota(QuotaError(
                f"the {name} cap of {cap} messages ({name}_cap in [providers.{self.provider.name}]"
                f") leaves room for {room} now", f"{name} cap", resume,
            ), stop=False)  # fmt: skip
            recipients = recipients[:room]
        return recipients

    def _quota(self, exc: QuotaError, stop: bool = True) -> None:
        """A quota or cap is reached: stop cleanly (a cap after the room it leaves); whoever
        was not handed over stays pending."""
        with self._lock:
            summary = self.summary
            if not summary.quota:
                when = exc.resume_at
                summary.quota, summary.resume_at = exc.limit, when
                resume = f"; resume after {when:%Y-%m-%d %H:%M} UTC" if when else ""
                summary.stopped = f"{exc}{resume}"
        if stop:
            self.stop.set()

    def _window_closed(self) -> bool:
        """The window's end stops the run as a quota does: batches in flight finish and are
        recorded, nobody else is handed over and all of them stay pending. Under `_lock`."""
        if self.gate is None or self.summary.window:
            return bool(self.summary.window)
        why = self.gate.closed()
        if why is not None:
            self.summary.window = self.summary.stopped = why
            self.stop.set()
        return why is not None

    def _work(self, plan: Plan, batches: Iterator[list[Subscriber]]) -> None:
        try:
            while not self.stop.is_set():
                with self._lock:
                    batch = None if self._window_closed() else next(batches, None)
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
        self._tally(bool(waiting and outcome.unreachable), outcome.unreachable)

    def _tally(self, refused: bool, reason: str) -> None:
        """Count batches refused whole after their retries; stop when that is systemic."""
        attempts = self.provider.limits.max_attempts
        with self._lock:
            self._failing = self._failing + 1 if refused else 0
            failing, through = self._failing, self._through
        if not refused or self.stop.is_set():
            return
        if not through:
            self._give_up(f"{reason}; stopped after {attempts} attempts")
        elif failing >= SYSTEMIC:
            self._give_up(
                f"{failing} batches in a row were refused after {attempts} attempts each, "
                f"the last by {reason}"
            )

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
        except QuotaError as exc:
            self.ledger.release(plan.issue, addresses, "pending", str(exc))
            self._quota(exc)
            return _Outcome(retry=[])
        except TransientError as exc:
            self.ledger.release(plan.issue, addresses, "deferred", str(exc))
            retry = [s for s in waiting if s.normalised in marked]
            return _Outcome(retry, exc.retry_after, f"{self.provider.name}: {exc}")
        except SendError as exc:
            self.ledger.release(plan.issue, addresses, "pending", str(exc))
            raise
        self._record(plan, receipts)
        # A recipient the server asks to leave for longer than max_wait waits for a rerun.
        deferred = [r for r in receipts if r.status == "deferred"]
        longest = self.provider.limits.max_wait
        again = {r.address for r in deferred if (r.retry_after or 0.0) <= longest}
        waits = [
            r.retry_after for r in deferred if r.retry_after is not None and r.address in again
        ]
        with self._lock:
            self.summary.deferred += len(deferred) - len(again)
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
            self._through = self._through or tally["sent"] > 0


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
