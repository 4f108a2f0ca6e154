"""Two project folders ("machines") in separate processes sharing one PostgreSQL database: an
unsubscribe `serve` took in A is honoured by a send from B, two sends of one issue from A and B
at once are one send, and a sender killed in A is resumed from B, each recipient mailed once
(counted at a real SMTP sink)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from innovate_news.settings import Settings
from innovate_news.store import postgres
from innovate_news.store.ledger import Ledger
from tests.cli.test_send_commands import ENV, ISSUE, cli_process, smtp_send_args, smtp_settings
from tests.support import REPO
from tests.support.listservice import SECRET, configure, served, token
from tests.support.servers import SmtpHandler, free_port, numbered, smtp_server, write_list
from tests.support.stores import URL_VARIABLE, StoreBackend

KILLED = """
import datetime as dt, os, signal, sys
from pathlib import Path
from innovate_news import api
from innovate_news.delivery import providers
from tests.support.crashes import CrashAfterHandover

class KilledAfterHandover(CrashAfterHandover):
    def send(self, batch):
        receipts = self.inner.send(batch)
        self.accepted += sum(r.status == "sent" for r in receipts)
        if self.accepted >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind
        return receipts

config, issue, subscribers, after, now = sys.argv[1:]
settings = api.load_settings(Path(config))
faulty = KilledAfterHandover(providers.create(settings, "smtp", issue), int(after))
when = dt.datetime.fromisoformat(now).replace(tzinfo=settings.timezone)
api.send(settings, issue, provider=faulty, subscribers=Path(subscribers), now=when)
"""


@pytest.fixture
def machines(
    project: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    """Folders A and B: one project, each with its own copy of the list, one shared database."""
    postgres.migrate(database_url)
    monkeypatch.setenv(URL_VARIABLE, database_url)
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    StoreBackend("postgresql").use_in(project)
    write_list(project, 100)
    other = tmp_path / "machine-b"
    shutil.copytree(project, other)
    yield project, other


def shared_ledger(url: str) -> Ledger:
    return Ledger(postgres.connect(url, Ledger.what))


def test_two_sends_from_two_machines_at_once_are_one_send(
    machines: tuple[Path, Path], database_url: str
) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        for folder in machines:
            smtp_settings(folder, port, rate=40)  # 2.5 s of sending: the two runs overlap
        runs = [
            cli_process(folder, *smtp_send_args(folder / "subscribers.csv")) for folder in machines
        ]
        results = [run.communicate(timeout=60) for run in runs]
    assert sorted(run.returncode for run in runs) == [0, 1], results
    refused = next(err for (_, err), run in zip(results, runs, strict=True) if run.returncode)
    holder = next(run.pid for run in runs if run.returncode == 0)
    assert re.search(rf"is being sent by pid {holder} on \S+", refused), refused
    assert numbered(handler.received()) == list(range(1, 101))
    with shared_ledger(database_url) as ledger:
        assert ledger.counts(ISSUE)["sent"] == 100


def test_a_sender_killed_in_one_machine_is_resumed_from_the_other(
    machines: tuple[Path, Path], database_url: str
) -> None:
    first, second = machines
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        for folder in machines:
            smtp_settings(folder, port)
        killed = subprocess.run(
            [sys.executable, "-c", KILLED, str(first / "innovate-news.toml"), ISSUE,
             str(first / "subscribers.csv"), "50", "2026-11-25T12:00"],
            cwd=REPO, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert numbered(handler.received()) == list(range(1, 51))
        resumed = cli_process(second, *smtp_send_args(second / "subscribers.csv"))
        out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, out + err  # the killed sender's lock died with it
    assert "Not resent: 1 unknown" in out and "Sent 50," in out
    assert numbered(handler.received()) == list(range(1, 101))  # each exactly once
    with shared_ledger(database_url) as ledger:
        (unknown,) = ledger.deliveries(ISSUE, ("unknown",))
        assert unknown.address == "r050@example.org" and ledger.counts(ISSUE)["sent"] == 99


def test_an_unsubscribe_taken_by_serve_in_one_machine_holds_for_a_send_from_the_other(
    machines: tuple[Path, Path],
) -> None:
    first, second = machines
    port = free_port()
    settings: Settings = configure(first, port)
    with served(settings, port) as (url, service):
        link = f"{url}unsubscribe?t={token(service, 'unsubscribe', 'r003@example.org')}"
        data = {"List-Unsubscribe": "One-Click"}
        assert requests.post(link, data=data, timeout=10).status_code == 200
    handler = SmtpHandler()
    with smtp_server(handler) as smtp_port:
        smtp_settings(second, smtp_port)  # B's copy of the list still says r003 is subscribed
        sent = cli_process(second, *smtp_send_args(second / "subscribers.csv"))
        out, err = sent.communicate(timeout=60)
    assert sent.returncode == 0, out + err
    assert numbered(handler.received()) == [n for n in range(1, 101) if n != 3]
