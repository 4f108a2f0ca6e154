"""What providers report after a hand-over (their webhooks), applied to the ledger at once.

A report suppresses addresses, lifts suppressions the provider itself made, and records copies
the provider accepted and then dropped. A signed report carries a token (Mailgun's, or a digest
of what SendGrid signed): the ledger keeps each token until its signature would be refused as
stale anyway, so a captured request replayed within that window changes nothing. The token and
the changes are committed together: a report counts once or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from innovate_news.secrecy import redact
from innovate_news.store.database import Database

SUPPRESS = (
    "INSERT INTO suppressions (address, reason, source, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
# A person's own choice (unsubscribe, complaint) takes the place of a suppression that only
# records a delivery state (bounce, manual): a provider lifting that state later must not
# lift the choice with it. Parameters: reason, source, at, address, reason.
PREFER_CHOICE = (
    "UPDATE suppressions SET reason = ?, source = ?, at = ? WHERE address = ? COLLATE NOCASE "
    "AND reason IN ('bounced', 'manual') AND ? IN ('unsubscribed', 'complained')"
)
# Only what the provider itself suppressed (through its webhook, or its refusal at a send of
# ours through it), and only a delivery state: never an unsubscribe or a complaint, which only
# fresh consent lifts. Parameters: address, source, provider.
_LIFT = (
    "DELETE FROM suppressions WHERE address = ? COLLATE NOCASE "
    "AND reason IN ('bounced', 'manual') AND (source = ? OR EXISTS (SELECT 1 FROM deliveries d "
    "WHERE d.address = suppressions.address COLLATE NOCASE AND d.provider = ? "
    "AND suppressions.source = 'send ' || d.issue))"
)
# The provider's id of a dropped copy is the id it gave when it accepted the request, or that
# id with a suffix (SendGrid: "<X-Message-Id>.filter..."). Parameters: state, error, at,
# provider, address, id, id.
_DROPPED = (
    "UPDATE deliveries SET state = ?, last_error = ?, updated_at = ? WHERE provider = ? "
    "AND address = ? COLLATE NOCASE AND state = 'sent' AND provider_id <> '' "
    "AND (provider_id = ? OR substr(?, 1, length(provider_id) + 1) = provider_id || '.')"
)
_CLAIM = (
    "INSERT INTO webhook_tokens (provider, token, until) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_PRUNE = "DELETE FROM webhook_tokens WHERE until < ?"


@dataclass(frozen=True)
class Dropped:
    """A copy the provider accepted, then did not deliver."""

    address: str
    message_id: str  # the provider's id of the copy
    state: str  # "failed" (the address is the cause) or "deferred" (a later run tries again)
    error: str


@dataclass(frozen=True)
class Report:
    """What one verified webhook request asks of the ledger."""

    provider: str
    suppress: Sequence[tuple[str, str]] = ()  # (address, reason)
    lift: Sequence[str] = ()  # addresses the provider reactivated
    dropped: Sequence[Dropped] = ()


@dataclass(frozen=True)
class Token:
    """What makes a signed request unique, and when its signature stops being accepted."""

    value: str
    until: dt.datetime


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


class Reports(Database):
    """The ledger's side of the webhooks (a part of `store.ledger.Ledger`)."""

    def apply_report(self, report: Report, token: Token | None, now: dt.datetime) -> int | None:
        """Apply `report` in one transaction; how many addresses are newly suppressed, or
        None (and no change) when `token` was seen before: a replay."""
        stamp = _stamp(now)
        source = f"{report.provider} webhook"
        with self._write() as db:
            if token is not None:
                db.execute(_PRUNE, (stamp,))
                claim = (report.provider, token.value, _stamp(token.until))
                if not db.execute(_CLAIM, claim).rowcount:
                    return None
            for address in report.lift:
                db.execute(_LIFT, (address, source, report.provider))
            for drop in report.dropped:
                values = (drop.state, redact(drop.error), stamp, report.provider, drop.address)
                db.execute(_DROPPED, (*values, drop.message_id, drop.message_id))
            added = 0
            for address, reason in report.suppress:
                added += db.execute(SUPPRESS, (address, reason, source, stamp)).rowcount
                db.execute(PREFER_CHOICE, (reason, source, stamp, address, reason))
            return added
