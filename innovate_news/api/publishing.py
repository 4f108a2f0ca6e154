"""Publishing: settings, the site build, checks, previews, sends and their status."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovate_news.api.deliverability import check_deliverability as check_deliverability
from innovate_news.api.subscribers import Notify, list_path, read_list
from innovate_news.api.websub import ping as ping  # WebSub, kept apart for this module's size
from innovate_news.errors import NotDueError, Problem, SubscriberError

if TYPE_CHECKING:
    from innovate_news.audience.subscribers import Subscriber, SubscriberList
    from innovate_news.delivery.campaign import Confirm, Progress
    from innovate_news.delivery.providers.base import Provider
    from innovate_news.delivery.sender import SendSummary
    from innovate_news.email.preview import Preview
    from innovate_news.mail import Receipt
    from innovate_news.schedule import Gate
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


def open_preview(written: Preview) -> bool:
    """Open a written preview's HTML in a web browser; False when this machine has none."""
    from innovate_news.email import preview as email_preview

    return email_preview.show(written.html)


def serve_site(
    settings: Settings,
    *,
    port: int | None = None,
    ready: Callable[[str], None] | None = None,
    notify: Notify | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Build the site for http://127.0.0.1:PORT/ into its own folder, serve it there, and build
    it again on every change to the sources, until `stop` is set or Ctrl-C.

    `ready` is told the address once the first build is done; `notify` each build's outcome.
    The real output folder is never touched. It builds in this process, which must not run
    another `build` meanwhile (a build keeps its workers' state in the module).
    """
    from innovate_news.site import devserver

    devserver.serve(settings, port, ready or (lambda _: None), notify or (lambda _: None), stop)


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
    accept_changes: bool = False,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    notify: Notify | None = None,
    now: dt.datetime | None = None,
    force: bool = False,
    gate: Gate | None = None,
) -> SendSummary:
    """Send an issue to the list, each subscriber exactly once across any number of runs.

    `provider` is a provider's name (default: [email] provider) or a ready Provider. `confirm`
    is shown the plan and says whether to go on; `stop`, once set, ends the run after the
    hand-overs in flight. A dry run plans and builds every copy but sends and records nothing.
    An issue edited since its first copies went out is refused (IssueChangedError, saying what
    changed) unless `accept_changes`. An issue whose send_at is still to come is refused
    (NotDueError) unless `force`; `gate` stops the run once its send window closes.
    """
    from innovate_news.content.issues import not_due
    from innovate_news.delivery import campaign, providers
    from innovate_news.delivery.plan import Options
    from innovate_news.store.ledger import Ledger

    tell = notify or (lambda _: None)
    issue, name, keyring, composer = _prepare(settings, issue_ref, provider, dry_run, now, tell)
    if not (dry_run or force) and (early := not_due(issue, now or _utcnow(), settings)):
        raise NotDueError(early)
    _preflight(settings, provider, name, dry_run, tell)
    listing = _read_list(settings, subscribers, skip_invalid, tell)
    options = Options(
        name, limit, resend_unknown, include_new, accept_changes=accept_changes, keyring=keyring
    )
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
            hourly_cap=_daily_cap(settings, name, "hourly_cap"), gate=gate,
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
    _preflight(settings, provider, name, dry_run, tell)
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


def status(
    settings: Settings, issue_ref: str, *, subscribers: Path | None = None
) -> dict[str, Any]:
    """Who got an issue: counts per state, the recipients in trouble, who got which version,
    and the test sends.

    Rows still to be sent whose person has since left the list (`subscribers`, default
    [email] subscribers if it exists), been suppressed or been erased are counted as such in
    `left_out`, not as pending or deferred.
    """
    from innovate_news.store.ledger import Ledger

    with Ledger.open(settings) as ledger:
        slug = _slug(settings, ledger.has_snapshot, issue_ref)
        counts = ledger.counts(slug)
        trouble = ledger.deliveries(slug, ("failed", "unknown", "deferred", "sending"))
        tests = ledger.test_sends(slug)
        waiting = ledger.deliveries(slug, ("pending", "deferred"))
        reasons = ledger.suppression_reasons()
        versions = _versions(ledger.versions(slug), ledger.version_counts(slug))
    listing = _list_for_status(settings, subscribers)
    left_out = _left_out(waiting, listing, reasons)
    for state, _ in left_out.values():
        counts[state] -= 1
    trouble = [d for d in trouble if d.address not in left_out]
    return {
        "issue": slug,
        "total": sum(counts.values()) + len(left_out),
        "counts": counts,
        "left_out": dict(Counter(why for _, why in left_out.values())),
        "compared_with": str(listing[0]) if listing else None,
        "versions": versions,
        "recipients": [
            {"address": d.address, "state": d.state, "attempts": d.attempts,
             "provider": d.provider, "last_error": d.last_error, "updated_at": d.updated_at}
            for d in trouble
        ],
        "test_sends": tests,
    }  # fmt: skip


def _list_for_status(
    settings: Settings, path: Path | None
) -> tuple[Path, dict[str, Subscriber]] | None:
    """The list to compare the ledger with, by lower-cased address; None when there is none."""
    from innovate_news.audience import listtable

    if path is None and not listtable.shared(settings) and not list_path(settings).is_file():
        return None
    listing = read_list(settings, path)
    return listing.path, {s.normalised.lower(): s for s in listing.subscribers}


def _left_out(
    waiting: Sequence[Any],
    listing: tuple[Path, dict[str, Subscriber]] | None,
    reasons: dict[str, str],
) -> dict[str, tuple[str, str]]:
    """The rows still to be sent that will not be, by address: (their state, why)."""
    from innovate_news.audience.eligibility import Suppressions
    from innovate_news.delivery.plan import why_left_out

    suppressions = Suppressions(reasons, None)
    listed = listing[1] if listing else None
    out = {}
    for row in waiting:
        if why := why_left_out(row.address, listed, suppressions, reasons):
            out[row.address] = (row.state, why)
    return out


def _versions(versions: Sequence[Any], counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Each version copies went out in, with its rows by state; copies marked before versions
    were kept come last, as one entry without a digest."""
    out: list[dict[str, Any]] = [
        {"variant": v.variant, "digest": v.digest, "subject": v.subject,
         "preheader": v.preheader, "first_at": v.first_at, "counts": counts.get(v.digest, {})}
        for v in versions
    ]  # fmt: skip
    old = {k: n for k, n in counts.get("", {}).items() if k in ("sent", "sending", "unknown")}
    if out and old:
        out.append({"variant": None, "digest": "", "subject": None, "preheader": None,
                    "first_at": None, "counts": old})  # fmt: skip
    return out


def test_recipients(path: Path, addresses: Sequence[str]) -> list[Subscriber]:
    """The test addresses, with the name and topics the list has for each, if any."""
    from innovate_news.audience import subscribers as subscriber_list
    from innovate_news.audience.subscribers import ALL_TOPICS, Subscriber

    known = subscriber_list.read(path).by_key() if path.is_file() else {}
    people = []
    for raw in addresses:
        if why := subscriber_list.check_address(raw):
            raise SubscriberError([Problem(None, None, f"{raw!r}: {why}")])
        address = subscriber_list.tidy(raw)  # sent as written; found in the list in any case
        found = known.get(subscriber_list.normalise(raw))
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


def _preflight(
    settings: Settings, provider: str | Provider | None, name: str, dry_run: bool, tell: Notify
) -> None:
    """Everything the send needs from outside the project, before any plan: the signing secret
    (a real provider's links must outlive this machine) and the provider's credentials. A real
    send raises SettingsError; a dry run, which needs neither, says what the send would refuse.
    """
    from innovate_news.audience import tokens
    from innovate_news.delivery import providers
    from innovate_news.errors import SettingsError

    refusals: list[Problem] = []
    if name != "outbox":
        try:
            tokens.keyring(settings, allow_generated=False)
        except SettingsError as exc:
            refusals += exc.problems
    if isinstance(provider, str | None):  # a ready Provider brings its own credentials
        refusals += providers.preflight(settings, name)
    if refusals and not dry_run:
        raise SettingsError(refusals)
    for problem in refusals:
        tell(f"Dry run only: the real send through {name} would refuse: {problem}")


def _read_list(
    settings: Settings, path: Path | None, skip_invalid: bool, tell: Notify
) -> SubscriberList:
    listing = read_list(settings, path)
    for problem in (*listing.problems, *listing.duplicates):
        tell(str(problem))
    errors = [p for p in listing.problems if p.severity == "error"]
    if errors and not skip_invalid:
        raise SubscriberError(
            [Problem(listing.path, None, f"{len(errors)} invalid row(s): fix them, or pass "
                     "--skip-invalid to send to everyone else")]
        )  # fmt: skip
    if errors:
        tell(f"Skipping {len(errors)} invalid row(s) listed above.")
    return listing


def _daily_cap(settings: Settings, name: str, key: str = "daily_cap") -> int | None:
    """[providers.smtp] daily_cap (or hourly_cap) when sending through smtp."""
    cap = settings.provider("smtp").get(key) if name == "smtp" else None
    return int(cap) if cap else None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
