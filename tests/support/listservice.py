"""Helpers for the list-service tests: settings pointed at loopback, a list, a served app."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from innovate_news import settings as settings_module
from innovate_news.audience import listfile, listtable
from innovate_news.audience.lifecycle import ListService, Mailer
from innovate_news.audience.subscribers import SubscriberList
from innovate_news.delivery import providers
from innovate_news.settings import Settings
from innovate_news.web.app import create_app
from innovate_news.web.server import Running

SECRET = "test-secret-0123456789abcdefghij"
LIST_ID = "news.innovate.example.org"
HEADER = "email,name,status,topics,consent_at,consent_source\n"


def configure(
    project: Path,
    port: int,
    provider: str = "outbox",
    smtp_port: int | None = None,
    signup_rate: int = 5,
) -> Settings:
    """Point the example project's links at a server on 127.0.0.1:`port`; return its settings."""
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    base = f"http://127.0.0.1:{port}/"
    for key, value in (
        ("unsubscribe_url", f"{base}unsubscribe"),
        ("preferences_url", f"{base}preferences"),
        ("provider", provider),
        ("subscribers", "subscribers.csv"),
    ):
        text = re.sub(rf"(?m)^{key} = .*$", f'{key} = "{value}"', text, count=1)
    if smtp_port is not None:
        block = f'[providers.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        text = re.sub(r"\[providers\.smtp\]\n(?:[^\[\n][^\n]*\n)*", block, text)
    serve = f'public_url = "{base}"\nsignup_rate = {signup_rate}\n'
    if "[serve]" in text:
        text = text.replace("[serve]\n", "[serve]\n" + serve, 1)
    else:
        text += f"\n[serve]\n{serve}"
    path.write_text(text, encoding="utf-8")
    return settings_module.load(path)


def write_list(project: Path, rows: list[str]) -> Path:
    """The list CSV; on PostgreSQL also put in the shared database's table, the list there."""
    path = project / "subscribers.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    settings = settings_module.load(project / "innovate-news.toml")
    if listtable.shared(settings):
        with contextlib.closing(listtable.open_list(settings)) as table:
            table.write(listfile.parse(path, path.read_bytes()))
    return path


def the_list(settings: Settings) -> SubscriberList:
    """The list as `send` reads it: the CSV, or on PostgreSQL the shared database's table."""
    return listtable.read_list(settings)


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@contextlib.contextmanager
def served(
    settings: Settings,
    port: int,
    clock: Callable[[], dt.datetime] | None = None,
    mailer: Mailer | None = None,
    environ: Mapping[str, str] | None = None,
    threads: int = 8,
) -> Iterator[tuple[str, ListService]]:
    """The list service on 127.0.0.1:`port` (real waitress), for the block."""
    service = ListService.open(settings, mailer or providers.mailer(settings), clock=clock)
    app = create_app(settings, service, environ=environ or {})
    try:
        with Running(app, "127.0.0.1", port, threads=threads) as running:
            yield running.url, service
    finally:
        service.close()


def token(service: ListService, purpose: str, address: str) -> str:
    return service.keyring.sign(purpose, LIST_ID, address)
