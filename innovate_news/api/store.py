"""Where the shared state lives: making and upgrading its schema, its status, and moving one
machine's state into PostgreSQL. The backend is `[store] backend`; PostgreSQL's URL comes
only from INNOVATE_NEWS_DATABASE_URL."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from innovate_news.settings import Settings
    from innovate_news.store.admin import Files, Status


@dataclass(frozen=True)
class Migration:
    backend: str
    where: str  # the state folder, or the shared database's URL without its password
    before: int  # schema version before
    after: int  # and now


@dataclass(frozen=True)
class Copied:
    where: str  # the shared database's URL without its password
    counts: dict[str, int]  # rows copied, by table


def migrate_store(settings: Settings) -> Migration:
    """Bring the store's schema to this version: on PostgreSQL every step the database lacks,
    in one transaction, safe to run from two machines at once (the second finds nothing to
    do); on SQLite the files are made or upgraded, as any command that opens them does.
    A database of a newer schema is refused (LedgerError: upgrade innovate-news)."""
    from innovate_news.store import backends, postgres
    from innovate_news.store.database import SQLITE_VERSION

    if backends.backend(settings) == "sqlite":
        before = store_status(settings).version
        _open_files(settings)
        return Migration("sqlite", str(settings.folder("state")), before, SQLITE_VERSION)
    url = backends.database_url()
    before, after = postgres.migrate(url)
    return Migration("postgresql", postgres.shown(url), before, after)


def init_store(settings: Settings) -> Migration:
    """Make the store's schema where there is none (the same steps as `migrate_store`, so
    running it on a database that has them changes nothing)."""
    return migrate_store(settings)


def store_status(settings: Settings) -> Status:
    """Backend, schema version (the database's and this version's) and rows by table; reads
    only. The URL is shown without its password."""
    from innovate_news.store import admin, backends

    if backends.backend(settings) == "sqlite":
        return admin.sqlite_status(_files(settings))
    with contextlib.closing(backends.connect("the shared store", check=False)) as engine:
        return admin.shared_status(engine)


def copy_store(settings: Settings, to: str = "postgresql") -> Copied:
    """Move this machine's state (the ledger with its suppressions, the sign-ups, and the list
    CSV of `[email] subscribers` if there is one) from the state folder into the PostgreSQL
    database of INNOVATE_NEWS_DATABASE_URL, in one transaction; refused if that database holds
    any state already. The schema is made first if the database has none. Then set
    `[store] backend = "postgresql"` on every machine."""
    from innovate_news.store import admin, backends, postgres

    if to != "postgresql":
        raise ValueError(f"can only copy to postgresql, not {to!r}")
    _open_files(settings)  # an older file is brought to this version's schema first
    url = backends.database_url()
    postgres.migrate(url)
    with contextlib.closing(postgres.connect(url, "the shared store")) as engine:
        counts = admin.copy(_files(settings), engine, _list_rows(settings))
    return Copied(postgres.shown(url), counts)


def _list_rows(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """The CSV list's header and rows as the shared database's list tables hold them."""
    from innovate_news.audience.listfile import ListFile
    from innovate_news.audience.listtable import rows_of

    path = settings.root / settings.email["subscribers"]
    if not path.is_file():
        return {}
    header, rows = rows_of(ListFile(path, settings.folder("state") / "locks").read())
    return {"subscriber_columns": header, "subscribers": rows}


def _files(settings: Settings) -> Files:
    from innovate_news.audience import signups
    from innovate_news.store import admin, ledger

    names = {"ledger": ledger.FILE_NAME, "signups": signups.FILE_NAME}
    return admin.Files(settings.folder("state"), names)


def _open_files(settings: Settings) -> None:
    """Open (making or upgrading) the state folder's ledger and sign-up files."""
    from innovate_news.audience.signups import Signups
    from innovate_news.store.ledger import Ledger

    files = _files(settings)
    Ledger(files.path("ledger")).close()
    Signups(files.path("signups")).close()
