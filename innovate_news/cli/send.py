"""The `send`, `status` and `subscribers` commands: parse, call the sending library, print."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from innovate_news.audience import subscribers as subscribers_module
from innovate_news.audience import tokens
from innovate_news.audience.subscribers import ALL_TOPICS, Subscriber, SubscriberList
from innovate_news.content import frontmatter, issues
from innovate_news.delivery import providers
from innovate_news.delivery.plan import NewsletterComposer, Options, Plan, plan, topic_label
from innovate_news.delivery.sender import Sender, Summary, rehearse, send_tests
from innovate_news.email import newsletter as newsletters
from innovate_news.errors import ContentError
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger

if TYPE_CHECKING:
    from innovate_news.cli.main import State

EXIT_ERROR, EXIT_USAGE = 1, 2


def _now(settings: Settings, value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date or datetime", param_hint="--now"
        ) from None
    return frontmatter.to_datetime(parsed, settings.timezone)


@click.command()
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--provider", type=click.Choice(providers.NAMES), help="Override [email] provider.")
@click.option(
    "--subscribers",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Subscriber CSV (default: [email] subscribers).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and build every copy; send nothing.")
@click.option("--to", "test_to", multiple=True, metavar="ADDR", help="Test send to ADDR only.")
@click.option("--limit", type=click.IntRange(min=1), help="Send to at most N recipients now.")
@click.option("--resend-unknown", is_flag=True, help="Also send to recipients left unknown.")
@click.option("--include-new", is_flag=True, help="Also send to subscribers added since.")
@click.option("--skip-invalid", is_flag=True, help="Leave out invalid rows instead of stopping.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--now", metavar="DATETIME", help="Choose posts as if it were this time.")
@click.pass_obj
def send(
    state: State,
    issue_ref: str,
    provider: str | None,
    csv_path: Path | None,
    dry_run: bool,
    test_to: tuple[str, ...],
    limit: int | None,
    resend_unknown: bool,
    include_new: bool,
    skip_invalid: bool,
    yes: bool,
    now: str | None,
) -> None:
    """Send ISSUE (a path, a slug or "latest") to the list, each subscriber exactly once.

    Prints the plan first and asks before sending. A rerun resumes where a stopped run left
    off; the ledger in the state folder remembers who has the issue.
    """
    settings = state.settings
    issue = issues.resolve(settings, issue_ref)
    name = provider or settings.email["provider"]
    keyring = tokens.keyring(settings, allow_generated=name == "outbox" or dry_run)
    if keyring.notice:
        click.echo(keyring.notice, err=True)
    newsletter = newsletters.prepare(settings, issue, keyring, _now(settings, now))
    composer = NewsletterComposer(newsletter, keyring)
    path = csv_path or settings.root / settings.email["subscribers"]
    with Ledger.open(settings) as ledger:
        if test_to:
            people = _test_recipients(path, test_to)
            if dry_run:
                sizes = [len(composer.compose(p, test=True).data) for p in people]
                click.echo(f"Dry run: built {len(sizes)} test copies; nothing was sent.")
                return
            _test_send(settings, ledger, composer, issue.slug, name, people, yes)
            return
        listing = _read_list(path, skip_invalid)
        options = Options(name, limit, resend_unknown, include_new, keyring=keyring)
        if dry_run:
            the_plan = plan(ledger, issue.slug, issue.subject, listing, composer, options)
            _echo_plan(the_plan)
            built = rehearse(the_plan, composer)
            click.echo(
                f"Dry run: built {built.count} copies ({built.bytes / 1e6:.1f} MB); "
                "nothing was sent and the ledger is unchanged."
            )
            return
        with ledger.lock(issue.slug):
            ledger.recover(issue.slug)
            the_plan = plan(ledger, issue.slug, issue.subject, listing, composer, options)
            _echo_plan(the_plan)
            if not the_plan.recipients:
                click.echo("Nothing to send.")
                return
            _confirm(f"Send {len(the_plan.recipients)} copies through {name}?", yes)
            summary = _run(settings, ledger, composer, the_plan)
    _report(summary, the_plan, name)


def _read_list(path: Path, skip_invalid: bool) -> SubscriberList:
    listing = subscribers_module.read(path)
    for problem in (*listing.problems, *listing.duplicates):
        click.echo(str(problem), err=True)
    errors = [p for p in listing.problems if p.severity == "error"]
    if errors and not skip_invalid:
        click.echo(
            f"{len(errors)} invalid row(s) in {path}: fix them, or pass --skip-invalid to send "
            "to everyone else.",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_ERROR)
    if errors:
        click.echo(f"Skipping {len(errors)} invalid row(s) listed above.", err=True)
    return listing


def _echo_plan(the_plan: Plan) -> None:
    for line in the_plan.lines():
        click.echo(line)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("not asking on a non-interactive input; add --yes to send")
    if not click.confirm(question, default=False):
        click.echo("Nothing sent.")
        raise click.exceptions.Exit(EXIT_ERROR)


def _run(
    settings: Settings, ledger: Ledger, composer: NewsletterComposer, the_plan: Plan
) -> Summary:
    provider = providers.create(settings, the_plan.provider, the_plan.issue)
    cap = settings.provider("smtp").get("daily_cap") if the_plan.provider == "smtp" else None
    stop = threading.Event()
    sender = Sender(ledger, provider, composer, stop=stop, daily_cap=cap)
    progress = _Progress(len(the_plan.recipients))
    try:
        with _interruptible(stop):
            summary = sender.run(the_plan, tick=progress.tick)
    except KeyboardInterrupt:
        click.echo(
            f"\nAbandoned. Copies in flight will show as unknown; resume with: "
            f"innovate-news send {the_plan.issue} --provider {the_plan.provider}",
            err=True,
        )
        raise click.exceptions.Exit(130) from None
    finally:
        progress.close()
        provider.close()
    return summary


@contextlib.contextmanager
def _interruptible(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish and record the hand-overs in flight, then stop. Second: abandon."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo(
            "\nStopping after the hand-over in flight (Ctrl-C again to abandon it)...", err=True
        )

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no handler, Ctrl-C stays an exception
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Progress:
    """A bar with rate and ETA on a terminal; a plain line every 10% otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.started = time.monotonic()
        self.shown = 0
        self.bar: Any = None
        if sys.stdout.isatty() and total:
            self.bar = click.progressbar(
                length=total, label="Sending", show_eta=True, show_pos=True
            )
            self.bar.__enter__()

    def tick(self, summary: Summary) -> None:
        done = summary.done
        rate = done / max(1e-9, time.monotonic() - self.started)
        if self.bar is not None:
            self.bar.update(done - self.shown, current_item=rate)
            self.shown = done
            return
        step = max(1, self.total // 10)
        if done // step > self.shown // step or (done == self.total and self.shown < done):
            click.echo(f"  {done}/{self.total} handled ({summary.sent} sent, {rate:.0f}/s)")
            self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _report(summary: Summary, the_plan: Plan, name: str) -> None:
    click.echo(summary.line())
    if summary.suppressed_now:
        click.echo(
            f"{summary.suppressed_now} address(es) the provider reported dead are now suppressed."
        )
    resume = f"innovate-news send {the_plan.issue} --provider {name}"
    if summary.interrupted:
        click.echo(
            f"Interrupted; everything handed over is recorded. Resume with: {resume}", err=True
        )
    elif summary.stopped:
        click.echo(f"Stopped: {summary.stopped}. Resume with: {resume}", err=True)
    elif summary.deferred:
        click.echo(f"{summary.deferred} deferred; a rerun tries them again: {resume}", err=True)
    if summary.failed or summary.unknown:
        click.echo(f"See who and why: innovate-news status {the_plan.issue}", err=True)
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)


def _test_send(
    settings: Settings,
    ledger: Ledger,
    composer: NewsletterComposer,
    slug: str,
    name: str,
    people: list[Subscriber],
    yes: bool,
) -> None:
    """--to: a [TEST] copy to each address, recorded apart from the list."""
    click.echo(f"Test send of {slug} to {', '.join(p.email for p in people)} through {name}.")
    _confirm("Send the test copies?", yes)
    provider = providers.create(settings, name, slug, test=True)
    try:
        receipts = send_tests(ledger, provider, composer, slug, people)
    finally:
        provider.close()
    for receipt in receipts:
        detail = receipt.error or receipt.provider_id
        click.echo(f"  {receipt.status:8} {receipt.address}  {detail}")
    if any(r.status != "sent" for r in receipts):
        raise click.exceptions.Exit(3)


def _test_recipients(path: Path, addresses: tuple[str, ...]) -> list[Subscriber]:
    """The --to addresses, with the name and topics the list has for each, if any."""
    known: dict[str, Subscriber] = {}
    if path.is_file():
        known = subscribers_module.read(path).by_address()
    people = []
    for raw in addresses:
        if why := subscribers_module.check_address(raw):
            raise click.BadParameter(f"{raw!r}: {why}", param_hint="--to")
        address = subscribers_module.normalise(raw)
        found = known.get(address)
        people.append(
            Subscriber(address, address, found.name if found else "", "subscribed",
                       found.topics if found else ALL_TOPICS, "", "", 0)
        )  # fmt: skip
    return people


@click.command()
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
def status(state: State, issue_ref: str, as_json: bool) -> None:
    """Who got ISSUE: counts per state, and who failed or is unknown, with the last error."""
    settings = state.settings
    with Ledger.open(settings) as ledger:
        slug = _slug(settings, ledger, issue_ref)
        counts = ledger.counts(slug)
        trouble = ledger.deliveries(slug, ("failed", "unknown", "deferred", "sending"))
        tests = ledger.test_sends(slug)
    if as_json:
        report = {
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
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    total = sum(counts.values())
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    click.echo(f"{slug}: {total} recipients" + (f": {shown}" if shown else " (never sent)"))
    for d in trouble:
        click.echo(f"  {d.state:8} {d.address}  ({d.attempts} attempt(s)) {d.last_error}")
    if counts["sending"]:
        click.echo(
            "'sending' means a run is under way, or stopped mid hand-over (unknown next run)."
        )
    if tests:
        click.echo(f"Test sends: {len(tests)} (not counted above).")


def _slug(settings: Settings, ledger: Ledger, ref: str) -> str:
    """The issue's slug; an issue whose file is gone is still found by its slug in the ledger."""
    try:
        return issues.resolve(settings, ref).slug
    except ContentError:
        if ledger.has_snapshot(ref):
            return ref
        raise


@click.group()
def subscribers() -> None:
    """Work with the subscriber list."""


@subscribers.command()
@click.argument(
    "csv_path", metavar="[CSV]", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
@click.pass_obj
def check(state: State, csv_path: Path | None) -> None:
    """Check the list as `send` would: bad rows (by row number), duplicates, suppressions."""
    settings = state.settings
    path = csv_path or settings.root / settings.email["subscribers"]
    listing = subscribers_module.read(path)
    for problem in (*listing.problems, *listing.duplicates):
        click.echo(str(problem), err=True)
    with Ledger.open(settings) as ledger:
        suppressed = {a.lower() for a in ledger.suppressed()}
    rows = listing.subscribers
    active = [s for s in rows if s.subscribed and s.normalised.lower() not in suppressed]
    statuses = Counter(s.status for s in rows)
    held = sum(1 for s in rows if s.normalised.lower() in suppressed)
    invalid = sum(1 for p in listing.problems if p.severity == "error")
    click.echo(
        f"{path}: {listing.rows} rows; "
        + ", ".join(f"{statuses[k]} {k}" for k in subscribers_module.STATUSES)
        + f"; {held} suppressed in the ledger; {len(listing.duplicates)} duplicate(s); "
        f"{invalid} invalid."
    )
    topics = Counter(topic_label(s.topics) for s in active)
    by_topic = ", ".join(f"{k}: {v}" for k, v in sorted(topics.items()))
    click.echo(f"Would receive an issue: {len(active)} ({by_topic})")
    if any(p.severity == "error" for p in listing.problems):
        raise click.exceptions.Exit(EXIT_ERROR)
