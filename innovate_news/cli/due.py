"""`send --due` and `status` without ISSUE: scheduled issues and the send window."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from innovate_news import api
from innovate_news.cli.progress import Progress, echo_err, echo_plan, interruptible
from innovate_news.cli.state import State
from innovate_news.errors import ExitCode

if TYPE_CHECKING:
    from innovate_news.api.scheduling import DueRun
    from innovate_news.delivery.plan import Plan
    from innovate_news.delivery.sender import SendSummary

RESUME = "innovate-news send --due"


def send_due(
    state: State,
    issue_ref: str | None,
    due: bool,
    test_to: bool,
    dry_run: bool,
    options: dict[str, Any],
) -> None:
    """Send what is due, without asking: a scheduler has no one to ask. `options` are the
    send command's, for `api.send`."""
    options = dict(options)
    now, force = options.pop("now"), options.pop("force")
    options.pop("notify")
    if not due:
        raise click.UsageError(
            'give the ISSUE to send (a path, a slug or "latest"), or --due for every issue '
            "whose send_at has come"
        )
    if issue_ref is not None or test_to or force:
        raise click.UsageError("--due sends every issue whose time has come: give no ISSUE, "
                               "--to or --force with it")  # fmt: skip
    if dry_run:
        show_schedule(state, now, as_json=False)
        click.echo("Dry run: nothing was sent and the ledger is unchanged.")
        return
    result = _run(state, now, options)
    _report(result, state.settings.timezone)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def _run(state: State, now: dt.datetime | None, options: dict[str, Any]) -> DueRun:
    stop = threading.Event()
    progress = Progress()

    def shown(the_plan: Plan) -> bool:
        click.echo(f"{the_plan.issue} is due.")
        echo_plan(the_plan)
        progress.start(len(the_plan.recipients))
        return True

    try:
        with interruptible(stop):
            return api.send_due(
                state.settings, now=now, confirm=shown, progress=progress.tick, stop=stop,
                notify=echo_err, **options,
            )  # fmt: skip
    except KeyboardInterrupt:
        click.echo(f"\nAbandoned. Copies in flight will show as unknown; resume with: {RESUME}",
                   err=True)  # fmt: skip
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    finally:
        progress.close()


def _report(result: DueRun, zone: ZoneInfo) -> None:
    if not result.due:
        click.echo("Nothing due: no issue has a send_at that has come and copies left to send.")
    for slug in result.busy:
        click.echo(f"{slug}: another run holds its send lock and is sending it; left to that run.")
    for slug, summary in result.runs:
        _one(slug, summary)
    if result.closed:
        waiting = [s for s in result.due if s not in {slug for slug, _ in result.runs}]
        click.echo(f"Due but not sent now ({', '.join(waiting)}): {result.closed}.")


def _one(slug: str, summary: SendSummary) -> None:
    if summary.plan is not None and not summary.plan.recipients:
        click.echo(f"{slug}: nothing left to send.")
        return
    click.echo(f"{slug}: {summary.line()}")
    left = summary.planned - summary.done
    if summary.interrupted:
        click.echo(f"Interrupted; everything handed over is recorded. Resume with: {RESUME}",
                   err=True)  # fmt: skip
    elif summary.quota:
        click.echo(f"Stopped by the {summary.quota}: {summary.stopped}.\n{left} not handed over "
                   f"stay pending. Resume with: {RESUME}", err=True)  # fmt: skip
    elif summary.window:
        click.echo(f"Stopped at the end of the send window: {summary.window}.\n{left} not "
                   "handed over stay pending; the next `send --due` inside the window resumes.",
                   err=True)  # fmt: skip
    elif summary.stopped:
        click.echo(f"Stopped: {summary.stopped}. Resume with: {RESUME}", err=True)
    if summary.failed or summary.unknown or summary.deferred:
        click.echo(f"See who and why: innovate-news status {slug}", err=True)


def show_schedule(state: State, now: dt.datetime | None, as_json: bool) -> None:
    """The scheduled issues, oldest first, what is due, and the window."""
    settings = state.settings
    report = api.schedule_status(settings, now=now)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    zone = settings.timezone
    click.echo(f"Scheduled issues (now {_local(report['now'], zone)}):")
    for entry in report["issues"]:
        mark = "  due" if entry["due"] else ""
        click.echo(f"  {_local(entry['send_at'], zone)}  {entry['issue']}  "
                   f"{entry['progress']}{mark}")  # fmt: skip
    if not report["issues"]:
        click.echo("  none (an issue is scheduled by its send_at field)")
    due = report["due"]
    click.echo(f"Due now: {', '.join(due)}." if due else "Nothing due now.")
    if report["next"]:
        nxt = report["next"]
        click.echo(f"Next due: {nxt['issue']} at {_local(nxt['send_at'], zone)}.")
    if report["window"]:
        where = f"{report['window']} ({zone.key})"
        opens = report["window_opens"]
        shown = "open now" if report["window_open"] else f"closed; opens {_local(opens, zone)}"
        click.echo(f"Send window: {where}: {shown}.")


def _local(iso: str, zone: ZoneInfo) -> str:
    return f"{dt.datetime.fromisoformat(iso).astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
