"""The plan of a send: who gets the issue in this run, worked out before anything is sent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from innovate_news.audience.eligibility import Suppressions, excluded
from innovate_news.audience.subscribers import ALL_TOPICS, Subscriber, SubscriberList
from innovate_news.audience.tokens import Keyring
from innovate_news.delivery.versions import Change, changes
from innovate_news.email.newsletter import Newsletter, Recipient
from innovate_news.errors import Problem, RenderError, SettingsError
from innovate_news.mail import Message
from innovate_news.settings import header_problems
from innovate_news.store.ledger import Ledger
from innovate_news.store.versions import Version


class Composer(Protocol):
    """Turns a subscriber into their prepared copy (the email module's newsletter, adapted)."""

    def variant_key(self, topics: frozenset[str]) -> str | None:
        """Which variant these topics get, or None when the issue has nothing for them."""

    def compose(self, subscriber: Subscriber, test: bool = False) -> Message:
        """The subscriber's copy, addressed to their normalised address."""

    def version(self, topics: frozenset[str]) -> Version | None:
        """The rendering these topics get (see store.versions), or None as for variant_key."""


@dataclass(frozen=True)
class Options:
    provider: str
    limit: int | None = None
    resend_unknown: bool = False
    include_new: bool = False
    accept_changes: bool = False  # send an issue edited since its first copies went out
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
    # Ledger rows still to be sent that this run leaves out, by why (see LEFT_OUT), beyond
    # `removed`, which counts only people no longer on the list.
    left_out: dict[str, int] = field(default_factory=dict)
    versions: dict[str, Version] = field(default_factory=dict, repr=False)  # key -> rendering
    changes: tuple[Change, ...] = ()  # variants edited since their copies went out
    accept_changes: bool = False

    def stamps(self) -> dict[str, Version]:
        """The version each recipient's copy is in, by address (for the ledger)."""
        out = {}
        for sub in self.recipients:
            if (version := self.versions.get(self.variants[sub.topics])) is not None:
                out[sub.normalised] = version
        return out

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
            out.extend(self._since())
        if self.changes:
            accepted = "sent as it is now" if self.accept_changes else "a send refuses it"
            out.append(f"Changed:    since its first copies went out ({accepted}):")
            out.extend("  " + line for change in self.changes for line in change.lines())
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

    def _since(self) -> list[str]:
        left = {"removed": self.removed, **self.left_out}
        if not self.new and not any(left.values()):
            return []
        new = "sent to now" if self.added else "add --include-new to send to them"
        shown = ", ".join(f"{left[k]} {label}" for k, label in LEFT_OUT.items() if left.get(k))
        return [
            f"Since the first send: {self.new} new subscriber(s) ({new})"
            + (f"; not sent: {shown}" if shown else "")
        ]


# Why a recipient in the ledger's snapshot, still to be sent, is not sent now.
LEFT_OUT = {
    "removed": "no longer on the list",
    "not_subscribed": "unsubscribed or bounced in the list",
    "suppressed": "suppressed since",
    "erased": "erased",
    "no_content": "with nothing in this issue for their topics now",
}


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
    reasons = ledger.suppression_reasons()
    suppressions = Suppressions(reasons, options.keyring)
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
            eligible.add(sub.normalised.lower())
        state = states.get(sub.key)  # the ledger files people by key (store.casefold)
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
    not_now = {a for a, s in states.items() if s in sendable and a.lower() not in eligible}
    left_out = _left_out(not_now, subscribers, suppressions, reasons)
    # Grouped by variant (batch APIs send one variant per request), list order within each.
    variants = {topics: key for topics, key in keys_of.items() if key is not None}
    chosen.sort(key=lambda s: variants[s.topics])
    limit = len(chosen) if options.limit is None else options.limit
    recipients = tuple(chosen[:limit])
    current = _versions(composer, variants, recipients)
    recorded = ledger.current_versions(issue) if states else {}
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
        removed=left_out.pop("removed", 0),
        first_send=not states,
        recipients=recipients,
        held_back=len(chosen) - len(recipients),
        resend_unknown=options.resend_unknown,
        by_topic=dict(Counter(topic_label(s.topics) for s in recipients)),
        variants=variants,
        added=tuple(added),
        left_out=dict(left_out),
        versions=current,
        changes=changes(recorded, current),
        accept_changes=options.accept_changes,
    )


def _left_out(
    addresses: set[str],
    listing: SubscriberList,
    suppressions: Suppressions,
    reasons: dict[str, str],
) -> Counter[str]:
    """Why each of these snapshot rows, still to be sent, is left out now (see LEFT_OUT)."""
    listed = {s.normalised.lower(): s for s in listing.subscribers}
    return Counter(
        why_left_out(a, listed, suppressions, reasons) or "no_content" for a in addresses
    )


def why_left_out(
    address: str,
    listed: Mapping[str, Subscriber] | None,
    suppressions: Suppressions,
    reasons: Mapping[str, str],
) -> str | None:
    """Why a snapshot row still to be sent is not sent now (a key of LEFT_OUT), judged by the
    ledger's suppressions and, when given, the list by lower-cased address. None: nothing
    here stops it (whether the issue has anything for their topics is the plan's to say)."""
    key = address.lower()
    if key in reasons:  # an erased person's row holds the pseudonym suppressed as "erased"
        return "erased" if reasons[key] == "erased" else "suppressed"
    if listed is None:
        return None
    if key not in listed:
        return "removed"
    return excluded(listed[key], suppressions)


def _versions(
    composer: Composer, variants: dict[frozenset[str], str], recipients: tuple[Subscriber, ...]
) -> dict[str, Version]:
    """The rendering of each variant this run sends, by variant key."""
    wanted = {variants[s.topics] for s in recipients}
    out: dict[str, Version] = {}
    for topics, key in variants.items():
        if key in wanted and key not in out and (version := composer.version(topics)):
            out[key] = version
    return out


class NewsletterComposer:
    """The email module's Newsletter behind the Composer seam."""

    def __init__(self, newsletter: Newsletter, keyring: Keyring):
        # Every header value from settings must encode before a batch is built, let alone
        # marked: found later, it would fail each run's first batch (or, inside a provider,
        # strand that batch as "unknown").
        if problems := header_problems(newsletter.settings):
            raise SettingsError(problems)
        self.newsletter = newsletter
        self.keyring = keyring

    def variant_key(self, topics: frozenset[str]) -> str | None:
        variant = self.newsletter.variant_for(topics)
        return None if variant is None else variant.key

    def version(self, topics: frozenset[str]) -> Version | None:
        variant = self.newsletter.variant_for(topics)
        if variant is None:
            return None
        html, text = variant.html, variant.text
        for name, token in variant.placeholders.items():  # tokens differ from run to run
            html = html.replace(token, f"{{{{{name}}}}}")
            text = text.replace(token, f"{{{{{name}}}}}")
        preheader = self.newsletter.issue.preheader or ""
        return Version.of(variant.key, variant.subject, preheader, html, text)

    def compose(self, subscriber: Subscriber, test: bool = False) -> Message:
        variant = self.newsletter.variant_for(subscriber.topics)
        if variant is None:
            # A --to test send of an issue with nothing for these topics: send every section.
            variant = self.newsletter.variant_for(ALL_TOPICS)
            assert variant is not None
        recipient = Recipient(
            subscriber.normalised,
            subscriber.name,
            subscriber.topics,
            subscriber.row or None,
            subscriber.first_name,
        )
        try:
            return variant.personalise(recipient, self.keyring, test)
        except UnicodeEncodeError as exc:  # a value no check foresaw: an error, not a traceback
            where = recipient.where()
            raise RenderError(f"{where}: a header value cannot be encoded: {exc}") from exc
