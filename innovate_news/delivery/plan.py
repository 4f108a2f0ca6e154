"""The plan of a send: who gets the issue in this run, worked out before anything is sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from innovate_news.audience.eligibility import Suppressions, excluded
from innovate_news.audience.subscribers import ALL_TOPICS, Subscriber, SubscriberList
from innovate_news.audience.tokens import Keyring
from innovate_news.email.newsletter import Newsletter, Recipient
from innovate_news.errors import Problem
from innovate_news.mail import Message
from innovate_news.store.ledger import Ledger


class Composer(Protocol):
    """Turns a subscriber into their prepared copy (the email module's newsletter, adapted)."""

    def variant_key(self, topics: frozenset[str]) -> str | None:
        """Which variant these topics get, or None when the issue has nothing for them."""

    def compose(self, subscriber: Subscriber, test: bool = False) -> Message:
        """The subscriber's copy, addressed to their normalised address."""


@dataclass(frozen=True)
class Options:
    provider: str
    limit: int | None = None
    resend_unknown: bool = False
    include_new: bool = False
    # Recognises erased people, whose suppression is kept under a keyed hash of the address.
    keyring: Keyring | None = None


@dataclass(frozen=True)
class Plan:
    """What a run would do, before it does anything."""

    issue: str
    subject: str
    provider: str
    rows: int
    invalid: tuple[Problem, ...]
    duplicates: tuple[Problem, ...]
    not_subscribed: int
    suppressed: int
    no_content: int
    already_sent: int
    failed: int
    unknown: int
    deferred: int
    new: int
    removed: int
    first_send: bool
    recipients: tuple[Subscriber, ...]
    held_back: int  # left for a later run by --limit
    resend_unknown: bool = False
    by_topic: dict[str, int] = field(default_factory=dict)
    variants: dict[frozenset[str], str] = field(default_factory=dict, repr=False)  # topics -> key
    added: tuple[str, ...] = field(default=(), repr=False)  # addresses to add to the ledger

    def lines(self) -> list[str]:
        """The plan as a person reads it."""
        out = [
            f"Issue:      {self.issue} ({self.subject})",
            f"Provider:   {self.provider}",
            f"List:       {self.rows} rows; {self.not_subscribed} not subscribed, "
            f"{self.suppressed} suppressed, "
            f"{sum(1 for p in self.invalid if p.severity == 'error')} invalid, "
            f"{len(self.duplicates)} duplicates, {self.no_content} with nothing in this issue",
        ]
        if not self.first_send:
            out.append(
                f"Ledger:     {self.already_sent} already sent, {self.failed} failed, "
                f"{self.deferred} deferred, {self.unknown} unknown"
            )
            if self.new or self.removed:
                out.append(
                    f"Since the first send: {self.new} new subscriber(s) "
                    f"({'sent to now' if self.added else 'add --include-new to send to them'}), "
                    f"{self.removed} no longer on the list (not sent)"
                )
        topics = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_topic.items()))
        out.append(f"To send:    {len(self.recipients)}" + (f" ({topics})" if topics else ""))
        if self.held_back:
            out.append(f"Held back:  {self.held_back} by --limit")
        if self.unknown and not self.resend_unknown:
            out.append(
                f"Not resent: {self.unknown} unknown (a run stopped mid hand-over; they may have "
                "the issue). Check with `innovate-news status`, then --resend-unknown if needed."
            )
        return out


def topic_label(topics: frozenset[str]) -> str:
    return "all topics" if topics == ALL_TOPICS else "+".join(sorted(topics))


def plan(
    ledger: Ledger,
    issue: str,
    subject: str,
    subscribers: SubscriberList,
    composer: Composer,
    options: Options,
) -> Plan:
    """Work out who gets the issue in this run; reads the ledger, writes nothing."""
    # Long because it is one pass over the list that sorts each person into exactly one of the
    # plan's counts; split up, the counts could each be right and still not add up.
    states = ledger.states(issue)
    suppressions = Suppressions(ledger.suppressed(), options.keyring)
    sendable = {"pending", "deferred"} | (
        {"unknown", "sending"} if options.resend_unknown else set()
    )
    keys_of: dict[frozenset[str], str | None] = {}
    counts: Counter[str] = Counter()
    eligible: set[str] = set()
    chosen: list[Subscriber] = []
    added: list[str] = []
    for sub in subscribers.subscribers:
        if reason := excluded(sub, suppressions):
            counts[reason] += 1
            continue
        if sub.topics not in keys_of:
            keys_of[sub.topics] = composer.variant_key(sub.topics)
        key = keys_of[sub.topics]
        if key is None:
            counts["no_content"] += 1
            continue
        if states:
            eligible.add(sub.normalised)
        state = states.get(sub.normalised)
        if state is None:
            if states and not options.include_new:
                counts["new"] += 1
                continue
            counts["new"] += bool(states)
            added.append(sub.normalised)
        elif state not in sendable:
            continue
        chosen.append(sub)
    in_ledger = Counter(states.values())
    removed = sum(1 for a, s in states.items() if s in sendable and a not in eligible)
    # Grouped by variant (batch APIs send one variant per request), list order within each.
    variants = {topics: key for topics, key in keys_of.items() if key is not None}
    chosen.sort(key=lambda s: variants[s.topics])
    limit = len(chosen) if options.limit is None else options.limit
    recipients = tuple(chosen[:limit])
    return Plan(
        issue=issue,
        subject=subject,
        provider=options.provider,
        rows=subscribers.rows,
        invalid=subscribers.problems,
        duplicates=subscribers.duplicates,
        not_subscribed=counts["not_subscribed"],
        suppressed=counts["suppressed"],
        no_content=counts["no_content"],
        already_sent=in_ledger["sent"],
        failed=in_ledger["failed"],
        unknown=in_ledger["unknown"] + in_ledger["sending"],
        deferred=in_ledger["deferred"],
        new=counts["new"],
        removed=removed,
        first_send=not states,
        recipients=recipients,
        held_back=len(chosen) - len(recipients),
        resend_unknown=options.resend_unknown,
        by_topic=dict(Counter(topic_label(s.topics) for s in recipients)),
        variants=variants,
        added=tuple(added),
    )


class NewsletterComposer:
    """The email module's Newsletter behind the Composer seam."""

    def __init__(self, newsletter: Newsletter, keyring: Keyring):
        self.newsletter = newsletter
        self.keyring = keyring

    def variant_key(self, topics: frozenset[str]) -> str | None:
        variant = self.newsletter.variant_for(topics)
        return None if variant is None else variant.key

    def compose(self, subscriber: Subscriber, test: bool = False) -> Message:
        variant = self.newsletter.variant_for(subscriber.topics)
        if variant is None:
            # A --to test send of an issue with nothing for these topics: send every section.
            variant = self.newsletter.variant_for(ALL_TOPICS)
            assert variant is not None
        recipient = Recipient(
            subscriber.normalised, subscriber.name, subscriber.topics, subscriber.row or None
        )
        return variant.personalise(recipient, self.keyring, test)
