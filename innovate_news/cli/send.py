"""The `send`, `status` and `subscribers check` commands: parse, call the library, print."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from innovate_news import api
from innovate_news.cli.progress import Progress, echo_err, echo_plan, interruptible
from innovate_news.cli.state import DateTimeParam, State, resolve_now
from innovate_news.delivery import providers
from innovate_news.errors import ExitCode

if TYPE_CHECKING:
    from innovate_news.delivery.plan import Plan
    from innovate_news.delivery.sender import SendSummary


@click.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
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
@click.option(
    "--accept-changes", is_flag=True, help="Send an issue edited since its first copies went out."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--now", type=DateTimeParam(), help="As if it were this time (posts; --due).")
@click.option("--due", is_flag=True, help="Send every issue whose send_at has come (never asks).")
@click.option("--force", is_flag=True, help="Send a scheduled issue before its send_at.")
@click.pass_obj
def send(
    state: State,
    issue_ref: str | None,
    provider: str | None,
    csv_path: Path | None,
    dry_run: bool,
    test_to: tuple[str, ...],
    limit: int | None,
    resend_unknown: bool,
    include_new: bool,
    skip_invalid: bool,
    accept_changes: bool,
    yes: bool,
    now: dt.datetime | None,
    due: bool,
    force: bool,
) -> None:
    """Send ISSUE (a path, a slug or "latest") to the list, each subscriber exactly once.

    Prints the plan first and asks before sending. A rerun resumes where a stopped run left
    off; the ledger in the state folder remembers who has the issue. `send --due` (no ISSUE)
    sends every issue whose send_at has come, inside [email] window: what a scheduler runs.
    """
    settings = state.settings
    when = resolve_now(settings, now)
    options: dict[str, Any] = {
        "provider": provider, "subscribers": csv_path, "limit": limit,
        "resend_unknown": resend_unknown, "include_new": include_new,
        "skip_invalid": skip_invalid, "notify": echo_err, "now": when,
        "accept_changes": accept_changes, "force": force,
    }  # fmt: skip
    if due or issue_ref is None:
        from innovate_news.cli.due import send_due

        send_due(state, issue_ref, due, bool(test_to), dry_run, options)
        return
    if test_to:
        _test_send(state, issue_ref, test_to, provider, csv_path, dry_run, yes, when)
        return
    if dry_run:
        summary = api.send(settings, issue_ref, dry_run=True, **options)
        assert summary.plan is not None
        echo_plan(summary.plan)
        click.echo(
            f"Dry run: built {summary.rehearsed} copies ({summary.rehearsed_bytes / 1e6:.1f} MB); "
            "nothing was sent and the ledger is unchanged."
        )
        return
    summary = _run(settings, issue_ref, yes, options)
    assert summary.plan is not None
    if summary.declined:
        click.echo("Nothing sent.")
        raise click.exceptions.Exit(ExitCode.ERROR)
    if not summary.plan.recipients:
        echo_plan(summary.plan)
        click.echo("Nothing to send.")
        return
    _report(summary, summary.plan)


def _run(settings: Any, issue_ref: str, yes: bool, options: dict[str, Any]) -> SendSummary:
    """The send itself, with a progress display and Ctrl-C handled as the README promises."""
    stop = threading.Event()
    progress = Progress()

    def confirm(the_plan: Plan) -> bool:
        echo_plan(the_plan)
        name = the_plan.provider
        if not _confirm(f"Send {len(the_plan.recipients)} copies through {name}?", yes):
            return False
        progress.start(len(the_plan.recipients))
        return True

    try:
        with interruptible(stop):
            return api.send(
                settings, issue_ref, confirm=confirm, progress=progress.tick, stop=stop, **options
            )
    except KeyboardInterrupt:
        click.echo(
            f"\nAbandoned. Copies in flight will show as unknown; resume with: "
            f"innovate-news send {issue_ref}",
            err=True,
        )
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    finally:
        progress.close()


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise click.UsageError("not asking on a non-interactive input; add --yes to send")
    return click.confirm(question, default=False)


def _report(summary: SendSummary, the_plan: Plan) -> None:
    click.echo(summary.line())
    if summary.suppressed_now:
        click.echo(
            f"{summary.suppressed_now} address(es) the provider reported dead are now suppressed."
        )
    for note in summary.notes:
        click.echo(f"Learnt: {note}.")
    resume = f"innovate-news send {the_plan.issue} --provider {the_plan.provider}"
    if summary.interrupted:
        click.echo(
            f"Interrupted; everything handed over is recorded. Resume with: {resume}", err=True
        )
    elif summary.quota:
        left = summary.planned - summary.done
        click.echo(
            f"Stopped by the {summary.quota}: {summary.stopped}.\n{left} not handed over stay "
            f"pending (none failed for it). Resume with: {resume}",
            err=True,
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
    state: State,
    issue_ref: str,
    addresses: tuple[str, ...],
    provider: str | None,
    csv_path: Path | None,
    dry_run: bool,
    yes: bool,
    now: dt.datetime | None,
) -> None:
    """--to: a [TEST] copy to each address, recorded apart from the list."""
    settings = state.settings
    if dry_run:
        api.send_test(settings, issue_ref, addresses, provider=provider, subscribers=csv_path,
                      dry_run=True, notify=echo_err, now=now)  # fmt: skip
        click.echo(f"Dry run: built {len(addresses)} test copies; nothing was sent.")
        return
    name = provider or settings.email["provider"]
    click.echo(f"Test send of {issue_ref} to {', '.join(addresses)} through {name}.")
    if not _confirm("Send the test copies?", yes):
        click.echo("Nothing sent.")
        raise click.exceptions.Exit(ExitCode.ERROR)
    receipts = api.send_test(settings, issue_ref, addresses, provider=provider,
                             subscribers=csv_path, notify=echo_err, now=now)  # fmt: skip
    for receipt in receipts:
        detail = receipt.error or receipt.provider_id
        click.echo(f"  {receipt.status:8} {receipt.address}  {detail}")
    if any(r.status != "sent" for r in receipts):
        raise click.exceptions.Exit(ExitCode.FAILED_RECIPIENTS)


@click.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--subscribers",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Compare with this list (default: [email] subscribers, if it exists).",
)
@click.option("--now", type=DateTimeParam(), help="Without ISSUE: what is due at this time.")
@click.pass_obj
def status(
    state: State, issue_ref: str | None, as_json: bool, csv_path: Path | None, now: Any
) -> None:
    """Who got ISSUE: counts per state, and who failed or is unknown, with the last error.

    Also who got which version of an edited issue, and who will not get it after all (no
    longer on the list, suppressed or erased since the first send). Without ISSUE: the
    scheduled issues (send_at), what is due next, and whether [email] window is open.
    """
    if issue_ref is None:
        from innovate_news.cli.due import show_schedule

        show_schedule(state, resolve_now(state.settings, now), as_json)
        return
    report = api.status(state.settings, issue_ref, subscribers=csv_path)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    counts, slug = report["counts"], report["issue"]
    shown = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    click.echo(
        f"{slug}: {report['total']} recipients" + (f": {shown}" if shown else " (never sent)")
    )
    _echo_left_out_and_versions(report)
    for d in report["recipients"]:
        click.echo(
            f"  {d['state']:8} {d['address']}  ({d['attempts']} attempt(s)) {d['last_error']}"
        )
    if counts["sending"]:
        click.echo(
            "'sending' means a run is under way, or stopped mid hand-over (unknown next run)."
        )
    if report["test_sends"]:
        click.echo(f"Test sends: {len(report['test_sends'])} (not counted above).")


def _echo_left_out_and_versions(report: dict[str, Any]) -> None:
    from innovate_news.delivery.plan import LEFT_OUT

    left = report["left_out"]
    if left:
        shown = ", ".join(f"{left[k]} {label}" for k, label in LEFT_OUT.items() if left.get(k))
        click.echo(f"Left out since the first send: {shown}.")
    if report["versions"]:
        click.echo("Versions (variant, digest, subject: copies by state):")
    for v in report["versions"]:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(v["counts"].items()))
        if v["digest"]:
            label = f"{v['variant']} {v['digest'][:10]} {v['subject']!r}"
        else:
            label = "marked before versions were recorded"
        click.echo(f"  {label}: {counts}")


@click.group()
def subscribers() -> None:
    """Work with the subscriber list."""


@subscribers.command()
@click.argument(
    "csv_path", metavar="[CSV]", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--subscribers",
    "option_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Subscriber CSV, as for the other commands (or give it as CSV).",
)
@click.pass_obj
def check(state: State, csv_path: Path | None, option_path: Path | None) -> None:
    """Check the list as `send` would: bad rows (by row number), duplicates, suppressions."""
    from innovate_news.audience import subscribers as subscriber_list
    from innovate_news.audience.eligibility import excluded
    from innovate_news.delivery.plan import topic_label

    if csv_path and option_path and csv_path != option_path:
        raise click.UsageError("give the list once: as CSV or with --subscribers")
    csv_path = csv_path or option_path
    settings = state.settings
    path = csv_path or settings.root / settings.email["subscribers"]
    listing = subscriber_list.read(path)
    for problem in (*listing.problems, *listing.duplicates):
        click.echo(str(problem), err=True)
    rows = listing.subscribers
    suppressions = api.suppressions(settings)
    active = [s for s in rows if excluded(s, suppressions) is None]
    statuses = Counter(s.status for s in rows)
    held = sum(1 for s in rows if suppressions.holds(s.normalised))
    invalid = sum(1 for p in listing.problems if p.severity == "error")
    click.echo(
        f"{path}: {listing.rows} rows; "
        + ", ".join(f"{statuses[k]} {k}" for k in subscriber_list.STATUSES)
        + f"; {held} suppressed in the ledger; {len(listing.duplicates)} duplicate(s); "
        f"{invalid} invalid."
    )
    topics = Counter(topic_label(s.topics) for s in active)
    by_topic = ", ".join(f"{k}: {v}" for k, v in sorted(topics.items()))
    click.echo(f"Would receive an issue: {len(active)} ({by_topic})")
    if invalid:
        raise click.exceptions.Exit(ExitCode.ERROR)
