"""One send of an issue to the list, in the order that keeps it exactly-once: take the issue's
lock, recover what a stopped run left in flight, plan, ask, then run the plan.

The command line, schedulers and tests all send through `deliver`; nothing else repeats it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from innovate_news.audience.subscribers import SubscriberList
from innovate_news.delivery.plan import Composer, Options, Plan, plan
from innovate_news.delivery.providers.base import Provider
from innovate_news.delivery.sender import Sender, SendSummary, rehearse
from innovate_news.delivery.versions import refusal
from innovate_news.errors import IssueChangedError
from innovate_news.schedule import Gate
from innovate_news.store.ledger import Ledger

Confirm = Callable[[Plan], bool]  # shown the plan; True to go on
Progress = Callable[[SendSummary], None]  # called with the running counts as the run goes


def deliver(
    ledger: Ledger,
    provider: Provider,
    composer: Composer,
    issue: str,
    subject: str,
    listing: SubscriberList,
    options: Options,
    *,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    daily_cap: int | None = None,
    hourly_cap: int | None = None,
    gate: Gate | None = None,
) -> SendSummary:
    """Send `issue` to everyone the plan holds; `provider` is closed on the way out.

    A second sender of the same issue is refused (IssueLockedError) before anything is read;
    an issue edited since its first copies went out is refused (IssueChangedError) before
    anything is sent, unless `options.accept_changes`. With a `gate` (a scheduled run), the
    run stops cleanly once the send window is closed, checked before each batch.
    """
    try:
        with ledger.lock(issue):
            ledger.recover(issue)
            the_plan = plan(ledger, issue, subject, listing, composer, options)
            if not the_plan.recipients:
                return SendSummary(plan=the_plan)
            if the_plan.changes and not options.accept_changes:
                raise IssueChangedError(refusal(issue, the_plan.changes))
            if confirm is not None and not confirm(the_plan):
                return SendSummary(plan=the_plan, declined=True)
            sender = Sender(
                ledger, provider, composer, stop=stop, daily_cap=daily_cap,
                hourly_cap=hourly_cap, gate=gate,
            )  # fmt: skip
            ledger.stamp(issue, the_plan.stamps())
            try:
                summary = sender.run(the_plan, tick=progress)
            finally:
                ledger.stamp(issue, {})
            summary.plan = the_plan
            return summary
    finally:
        provider.close()


def dry_run(
    ledger: Ledger,
    composer: Composer,
    issue: str,
    subject: str,
    listing: SubscriberList,
    options: Options,
) -> SendSummary:
    """The plan, and every copy built and handed to no one; the ledger is left as it was."""
    the_plan = plan(ledger, issue, subject, listing, composer, options)
    built = rehearse(the_plan, composer)
    return SendSummary(
        planned=len(the_plan.recipients),
        plan=the_plan,
        rehearsed=built.count,
        rehearsed_bytes=built.bytes,
    )
