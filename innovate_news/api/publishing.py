"""Publishing: settings, the site build, checks, previews, sends and their status."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news.api.subscribers import Notify, list_path
from innovate_news.errors import Problem, SubscriberError

if TYPE_CHECKING:
    from innovate_news.audience.subscribers import Subscriber, SubscriberList
    from innovate_news.delivery.campaign import Confirm, Progress
    from innovate_news.delivery.providers.base import Provider
    from innovate_news.delivery.sender import SendSummary
    from innovate_news.email.preview import Preview
    from innovate_news.mail import Receipt
    from innovate_news.settings import Settings
    from innovate_news.site.report import BuildReport


def load_settings(config: Path | None = None) -> Settings:
    """Settings from `config`, or innovate-news.toml here or in a parent folder."""
    from innovate_news import settings

    return settings.load(config)


def build(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    out: Path | None = None,
    jobs: int | None = None,
) -> BuildReport:
    """Build the site, feeds and calendars; nothing is written unless every post checks out."""
    from innovate_news.site import build as site_build

    return site_build.build(settings, out=out, now=now, jobs=jobs)


def check(
    settings: Settings, *, now: dt.datetime | None = None, subscribers: Path | None = None
) -> list[Problem]:
    """Every problem with the posts, issues, templates and the list (errors and warnings)."""
    from innovate_news import checks

    return checks.check_project(settings, now=now) + checks.check_list(settings, subscribers)


def preview(
    settings: Settings,
    issue_ref: str,
    *,
    out: Path | None = None,
    as_email: str | None = None,
    topics: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> Preview:
    """Write one recipient's copy of an issue as .html, .txt and .eml."""
    from innovate_news.email import preview as email_preview

    return email_preview.write_preview(settings, issue_ref, out, as_email, topics, now)


def send(
    settings: Settings,
    issue_ref: str,
    *,
    provider: str | Provider | None = None,
    subscribers: Path | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    resend_unknown: bool = False,
    include_new: bool = False,
    skip_invalid: bool = False,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    notify: Notify | None = None,
    now: dt.datetime | None = None,
) -> SendSummary:
    """Send an issue to the list, each subscriber exactly once across any number of runs.

    `provider` is a provider's name (default: [email] provider) or a ready Provider. `confirm`
    is shown the plan and says whether to go on; `stop`, once set, ends the run after the
    hand-overs in flight. A dry run plans and builds every copy but sends and records nothing.
    """
    from innovate_news.delivery import campaign, providers
    from innovate_news.delivery.plan import Options
    from innovate_news.store.ledger import Ledger

    tell = notify or (lambda _: None)
    issue, name, keyring, composer = _prepare(settings, issue_ref, provider, dry_run, now, tell)
    listing = _read_list(list_path(settings, subscribers), skip_invalid, tell)
    options = Options(name, limit, resend_unknown, include_new, keyring=keyring)
    with Ledger.open(settings) as ledger:
        if dry_run:
            return campaign.dry_run(ledger, composer, issue.slug, issue.subject, listing, options)
        chosen = (
            providers.create(settings, name, issue.slug) if isinstance(provider, str | None)
            else provider
        )  # fmt: skip
        return campaign.deliver(
            ledger, chosen, composer, issue.slug, issue.subject, listing, options,
            confirm=confirm, progress=progress, stop=stop, daily_cap=_daily_cap(settings, name),
        )  # fmt: skip


def send_test(
    settings: Settings,
    issue_ref: str,
    addresses: Sequence[str],
    *,
    provider: str | Provider | None = None,
    subscribers: Path | None = None,
    dry_run: bool = False,
    notify: Notify | None = None,
    now: dt.datetime | None = None,
) -> list[Receipt]:
    """A [TEST] copy of an issue to each address, recorded apart from the list's deliveries.

    Each copy has the name and topics the list holds for its address, if any. A dry run builds
    the copies and returns no receipts.
    """
    from innovate_news.delivery import providers
    from innovate_news.delivery.sender import send_tests
    from innovate_news.store.ledger import Ledger

    tell = notify or (lambda _: None)
    issue, name, _, composer = _prepare(settings, issue_ref, provider, dry_run, now, tell)
    people = test_recipients(list_path(settings, subscribers), addresses)
    if dry_run:
        for person in people:
            composer.compose(person, test=True)
        return []
    chosen = (
        providers.create(settings, name, issue.slug, test=True) if isinstance(provider, str | None)
        else provider
    )  # fmt: skip
    with Ledger.open(settings) as ledger:
        try:
            return send_tests(ledger, chosen, composer, issue.slug, people)
        finally:
            chosen.close()


def status(settings: Settings, issue_ref: str) -> dict[str, Any]:
    """Who got an issue: counts per state, the recipients in trouble, and the test sends."""
    from innovate_news.store.ledger import Ledger

    with Ledger.open(settings) as ledger:
        slug = _slug(settings, ledger.has_snapshot, issue_ref)
        counts = ledger.counts(slug)
        trouble = ledger.deliveries(slug, ("failed", "unknown", "deferred", "sending"))
        tests = ledger.test_sends(slug)
    return {
        "issue": slug,
        "total": sum(counts.values()),
        "counts": counts,
        "recipients": [
            {"address": d.address, "state": d.state, "attempts": d.attempts,
             "provider": d.provider, "last_error": d.last_error, "updated_at": d.updated_at}
            for d in trouble
        ],
        "test_sends": tests,
    }  # fmt: skip


def test_recipients(path: Path, addresses: Sequence[str]) -> list[Subscriber]:
    """The test addresses, with the name and topics the list has for each, if any."""
    from innovate_news.audience import subscribers as subscriber_list
    from innovate_news.audience.subscribers import ALL_TOPICS, Subscriber

    known = subscriber_list.read(path).by_address() if path.is_file() else {}
    people = []
    for raw in addresses:
        if why := subscriber_list.check_address(raw):
            raise SubscriberError([Problem(None, None, f"{raw!r}: {why}")])
        address = subscriber_list.normalise(raw)
        found = known.get(address)
        people.append(
            Subscriber(address, address, found.name if found else "", "subscribed",
                       found.topics if found else ALL_TOPICS, "", "", 0)
        )  # fmt: skip
    return people


def _prepare(
    settings: Settings,
    issue_ref: str,
    provider: str | Provider | None,
    dry_run: bool,
    now: dt.datetime | None,
    tell: Notify,
) -> tuple[Any, str, Any, Any]:
    """The issue, the provider's name, the signing keys and the composer of its copies."""
    from innovate_news.audience import tokens
    from innovate_news.content import issues
    from innovate_news.delivery.plan import NewsletterComposer
    from innovate_news.email import newsletter

    issue = issues.resolve(settings, issue_ref)
    if provider is None or isinstance(provider, str):
        name = provider or str(settings.email["provider"])
    else:
        name = provider.name
    keyring = tokens.keyring(settings, allow_generated=name == "outbox" or dry_run)
    if keyring.notice:
        tell(keyring.notice)
    letter = newsletter.prepare(settings, issue, keyring, now or dt.datetime.now(dt.UTC))
    return issue, name, keyring, NewsletterComposer(letter, keyring)


def _read_list(path: Path, skip_invalid: bool, tell: Notify) -> SubscriberList:
    from innovate_news.audience import subscribers as subscriber_list

    listing = subscriber_list.read(path)
    for problem in (*listing.problems, *listing.duplicates):
        tell(str(problem))
    errors = [p for p in listing.problems if p.severity == "error"]
    if errors and not skip_invalid:
        raise SubscriberError(
            [Problem(path, None, f"{len(errors)} invalid row(s): fix them, or pass "
                     "--skip-invalid to send to everyone else")]
        )  # fmt: skip
    if errors:
        tell(f"Skipping {len(errors)} invalid row(s) listed above.")
    return listing


def _daily_cap(settings: Settings, name: str) -> int | None:
    cap = settings.provider("smtp").get("daily_cap") if name == "smtp" else None
    return int(cap) if cap else None


def _slug(settings: Settings, known: Callable[[str], bool], ref: str) -> str:
    """The issue's slug; an issue whose file is gone is still found by its slug in the ledger."""
    from innovate_news.content import issues
    from innovate_news.errors import ContentError

    try:
        return issues.resolve(settings, ref).slug
    except ContentError:
        if known(ref):
            return ref
        raise
