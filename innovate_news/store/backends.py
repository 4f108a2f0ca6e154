"""Which backend holds the shared state (`[store] backend`), and where each store opens.

SQLite, the default, keeps each store in a file of the state folder. PostgreSQL keeps them all
in one database, reached through INNOVATE_NEWS_DATABASE_URL only: a URL can hold a password,
so it is never read from the settings file and never printed (secrecy.redact knows it).
"""

from __future__ import annotations

import os
from pathlib import Path

from innovate_news.errors import LedgerError
from innovate_news.settings import Settings
from innovate_news.store.database import URL_VARIABLE, Engine

BACKENDS = ("sqlite", "postgresql")


def backend(settings: Settings) -> str:
    return str(settings["store"]["backend"])


def database_url() -> str:
    """The shared database's URL, or a LedgerError saying how to give it."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        raise LedgerError(
            f'[store] backend is "postgresql" but {URL_VARIABLE} is not set; set it to '
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (never in the settings file)"
        )
    return url


def connect(what: str, check: bool = True) -> Engine:
    """A store's connection to the shared database (refused unless its schema is current)."""
    from innovate_news.store import postgres

    return postgres.connect(database_url(), what, check)


def where(settings: Settings, file_name: str, what: str) -> Path | Engine:
    """Where a store opens: its file in the state folder, or the shared database."""
    if backend(settings) == "sqlite":
        return settings.folder("state") / file_name
    return connect(what)
