"""The list: who may be sent an issue, and the subscriber commands' work (import, export,
unsubscribe, erase, subject access, sync) and the list service."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from innovate_news.errors import Problem, SubscriberError

if TYPE_CHECKING:
    from innovate_news.audience.eligibility import Suppressions
    from innovate_news.audience.imports import Report as ImportReport
    from innovate_news.audience.privacy import Erasure, Stores
    from innovate_news.audience.subscribers import Subscriber, SubscriberList
    from innovate_news.settings import Settings

Notify = Callable[[str], None]  # receives notices and list warnings meant for the person acting


def _quiet(_: str) -> None:
    pass


def list_path(settings: Settings, path: Path | None = None) -> Path:
    """The subscriber CSV: `path` if given, else `[email] subscribers`."""
    return path or settings.root / settings.email["subscribers"]


def read_list(settings: Settings, path: Path | None = None) -> SubscriberList:
    """The list validated for sending: the CSV (`path`, else `[email] subscribers`), or on
    PostgreSQL without `path` the shared database's table."""
    from innovate_news.audience import listtable

    return listtable.read_list(settings, path)


def suppressions(settings: Settings) -> Suppressions:
    """Who must never be sent mail: the ledger's suppressions, erased people included."""
    from innovate_news.audience import tokens
    from innovate_news.audience.eligibility import Suppressions
    from innovate_news.store.ledger import Ledger

    keyring = tokens.keyring(settings, allow_generated=True)
    with Ledger.open(settings) as ledger:
        return Suppressions(ledger.suppressed(), keyring)


def eligible(settings: Settings, listing: SubscriberList) -> list[Subscriber]:
    """The people on `listing` who may be sent an issue: subscribed, not suppressed, not erased
    (the rule `send` plans by)."""
    from innovate_news.audience.eligibility import excluded

    held = suppressions(settings)
    return [s for s in listing.subscribers if excluded(s, held) is None]


@contextlib.contextmanager
def open_list(
    settings: Settings, subscribers: Path | None = None, notify: Notify | None = None
) -> Iterator[Stores]:
    """Every store that holds personal data (list file, ledger, sign-ups), opened together."""
    from innovate_news.audience import lifecycle, listtable
    from innovate_news.audience.privacy import Stores
    from innovate_news.audience.signups import Signups
    from innovate_news.store.ledger import Ledger

    keys = lifecycle.keyring(settings)
    if keys.notice:
        (notify or _quiet)(keys.notice)
    with Ledger.open(settings) as ledger, Signups.open(settings) as signups:
        listfile = listtable.open_list(settings, subscribers)
        try:
            yield Stores(settings, keys, listfile, ledger, signups)
        finally:
            listfile.close()


def import_subscribers(
    settings: Settings,
    files: Sequence[Path],
    *,
    subscribers: Path | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    notify: Notify | None = None,
) -> ImportReport:
    """Merge Mailchimp exports or plain CSVs into the list; bad rows are told to `notify` and
    refuse the import unless `skip_invalid`."""
    from innovate_news.audience import imports

    tell = notify or _quiet
    with open_list(settings, subscribers, tell) as stores:
        for path in files:
            _, problems = imports.read_source(path)
            for problem in problems:
                tell(str(problem))
            if problems and not skip_invalid:
                raise SubscriberError(
                    [Problem(path, None, f"{len(problems)} invalid row(s): fix them, or pass "
                             "--skip-invalid to import the others")]
                )  # fmt: skip
        return imports.import_files(stores.listfile, stores.ledger, stores.keyring, files, dry_run)


def export_subscribers(
    settings: Settings,
    out: TextIO,
    *,
    subscribers: Path | None = None,
    subscribed_only: bool = False,
) -> int:
    """Write the list as RFC 4180 CSV (statuses as `send` sees them) to `out`; rows written."""
    from innovate_news.audience import roster

    with open_list(settings, subscribers) as stores:
        return roster.export(stores.listfile, stores.ledger, stores.keyring, out, subscribed_only)


def unsubscribe(settings: Settings, address: str, source: str = "command line") -> bool:
    """Suppress `address` at once; False when it already was."""
    from innovate_news.store.ledger import Ledger

    with Ledger.open(settings) as ledger:
        return ledger.suppress(_address(address), "unsubscribed", source)


def erase(settings: Settings, address: str, *, subscribers: Path | None = None) -> Erasure:
    """Erase `address` from the list, sign-ups and outbox; a keyed hash replaces it in the
    ledger, so no import brings it back."""
    from innovate_news.audience import privacy

    with open_list(settings, subscribers) as stores:
        return privacy.erase(stores, _address(address))


def subject_access(
    settings: Settings,
    address: str,
    *,
    subscribers: Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything held about `address`, as plain data (the answer to a subject access request)."""
    from innovate_news.audience import privacy

    with open_list(settings, subscribers) as stores:
        return privacy.subject_access(stores, _address(address), now or dt.datetime.now(dt.UTC))


def sync_list(settings: Settings, *, subscribers: Path | None = None) -> tuple[Path, int]:
    """Rewrite the list's status column from the suppressions; the file and the rows changed."""
    from innovate_news.audience import roster

    with open_list(settings, subscribers) as stores:
        return stores.listfile.path, roster.sync(stores.listfile, stores.ledger, stores.keyring)


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    ready: Callable[[str], None] | None = None,
    notify: Notify | None = None,
) -> None:
    """Run the list service (unsubscribe, preferences, sign-up, webhooks) until interrupted."""
    from innovate_news.audience import lifecycle
    from innovate_news.delivery import providers
    from innovate_news.web import app as webapp
    from innovate_news.web import server

    _require_list(settings)
    table = settings["serve"]
    service = lifecycle.ListService.open(settings, providers.mailer(settings))
    if service.keyring.notice:
        (notify or _quiet)(service.keyring.notice)
    try:
        server.serve(
            webapp.create_app(settings, service),
            host or table["host"],
            table["port"] if port is None else port,
            table["threads"],
            table["trusted_proxy"],
            ready=ready or _quiet,
        )
    finally:
        service.close()


def _require_list(settings: Settings) -> None:
    """Refuse to serve without the list file: every subscriber who followed a link would be told
    they are not on the list, and each confirmed sign-up would start a new list of one."""
    from innovate_news.audience import listtable

    path = list_path(settings)
    if path.is_file() or listtable.shared(settings):  # the shared table always exists
        return
    example = settings.root / "subscribers.example.csv"
    shown = path.relative_to(settings.root) if path.is_relative_to(settings.root) else path
    hint = f"cp {example.name} {shown} to try it out, or " if example.is_file() else ""
    raise SubscriberError(
        [Problem(path, None, "the subscriber list is missing, and `serve` answers for it; "
                 f"create it ({hint}start an empty list with the header line "
                 "email,name,status,topics,consent_at,consent_source), or point "
                 f"[email] subscribers in {settings.path.name} at the real one")]
    )  # fmt: skip


def _address(value: str) -> str:
    """The address normalised; a malformed one is a SubscriberError."""
    from innovate_news.audience.subscribers import check_address, normalise

    if why := check_address(value):
        raise SubscriberError([Problem(None, None, f"{value!r}: {why}")])
    return normalise(value)
