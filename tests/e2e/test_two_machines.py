"""Two project folders ("machines") in separate processes sharing one PostgreSQL database: an
unsubscribe `serve` took in A is honoured by a send from B, two sends of one issue from A and B
at once are one send, and a sender killed in A is resumed from B, each recipient mailed once
(counted at a real SMTP sink); unsubscribes and sign-ups taken at once by a `serve` in each are
all kept, and an address erased in A is not brought back by an import in B."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from innovate_news.audience.signups import Signups
from innovate_news.audience.tokens import Keyring
from innovate_news.settings import Settings
from innovate_news.store import postgres
from innovate_news.store.ledger import Ledger
from tests.cli.test_send_commands import ENV, ISSUE, cli_process, smtp_send_args, smtp_settings
from tests.support import REPO
from tests.support.listservice import LIST_ID, SECRET, configure, served, token
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


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """`innovate-news serve` run from `folder` in its own process, until the block ends; its URL."""
    port = free_port()
    configure(folder, port, signup_rate=100)  # every request comes from 127.0.0.1
    process = cli_process(folder, "serve", "--host", "127.0.0.1", "--port", str(port))
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            process.kill()
            raise AssertionError(f"serve did not start: {process.communicate(timeout=30)}")
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=30)


def test_unsubscribes_and_signups_at_once_across_two_serves_are_all_kept(
    machines: tuple[Path, Path], database_url: str
) -> None:
    keys = Keyring.parse(ENV["INNOVATE_NEWS_SECRET"])  # the key `serve` runs with
    leaving = [f"r{i:03d}@example.org" for i in range(1, 26)]
    joining = [f"new{i:02d}@example.org" for i in range(1, 26)]
    start = threading.Barrier(50, timeout=30)

    def unsubscribe(base: str, address: str) -> int:
        link = f"{base}unsubscribe?t={keys.sign('unsubscribe', LIST_ID, address)}"
        start.wait()
        return requests.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=30).status_code

    def sign_up(base: str, address: str) -> int:
        form = {"email": address, "name": "New Reader", "topics": "blog", "consent": "yes"}
        start.wait()
        return requests.post(f"{base}subscribe", data=form, timeout=30).status_code

    with (
        serving(machines[0]) as first,
        serving(machines[1]) as second,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        futures = [
            pool.submit(job, (first, second)[i % 2], address)  # alternately to A and B
            for job, addresses in ((unsubscribe, leaving), (sign_up, joining))
            for i, address in enumerate(addresses)
        ]
        statuses = [future.result(timeout=60) for future in futures]
    assert statuses == [200] * 50
    with shared_ledger(database_url) as ledger:
        assert ledger.suppressed() >= set(leaving)
    with Signups(postgres.connect(database_url, Signups.what)) as signups:
        pending = {a for a in joining for s in signups.about(a) if s.confirmed_at is None}
    assert pending == set(joining)


def test_an_address_erased_in_one_machine_is_not_brought_back_by_an_import_in_the_other(
    machines: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = machines
    old = tmp_path / "old-export.csv"  # an old export that still holds the person
    old.write_text("email,name,status,topics\nlate@example.org,Late Reader,subscribed,\n")
    outputs = []
    for folder, *args in (
        (first, "import", str(old)),
        (first, "erase", "late@example.org", "--yes"),
        (second, "import", str(old)),
        (second, "export"),
    ):
        run = cli_process(folder, "subscribers", *args)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, out + err
        outputs.append(out)
    assert outputs[2].startswith("Imported: 0 added, 0 updated, 0 unchanged, 1 kept out")
    assert "late@example.org" not in outputs[3]  # B's list, as exported
