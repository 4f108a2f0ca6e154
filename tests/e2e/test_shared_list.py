"""The subscriber list held in the shared PostgreSQL database, used from two project folders
("machines") in separate processes: a sign-up confirmed through `serve` in A is mailed by a
send from B, and a person erased in A is gone from the list B exports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.store import postgres
from tests.cli.test_send_commands import AT, cli_process, smtp_settings
from tests.support.listservice import SECRET, configure, served
from tests.support.servers import SmtpHandler, free_port, smtp_server, write_list
from tests.support.stores import URL_VARIABLE, StoreBackend
from tests.web.test_app import confirm_link, form_action, memory_mailer


@pytest.fixture
def machines(
    project: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    """Folders A and B on one shared database; neither has a list CSV of its own."""
    postgres.migrate(database_url)
    monkeypatch.setenv(URL_VARIABLE, database_url)
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    StoreBackend("postgresql").use_in(project)
    (project / "subscribers.csv").unlink(missing_ok=True)
    other = tmp_path / "machine-b"
    shutil.copytree(project, other)
    yield project, other


def finished(folder: Path, *args: str) -> str:
    """The standard output of the command run in `folder` in its own process (it must succeed)."""
    process = cli_process(folder, *args, env={**os.environ})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    return out


def test_a_sign_up_confirmed_by_serve_in_one_machine_is_mailed_by_a_send_from_the_other(
    machines: tuple[Path, Path],
) -> None:
    first, second = machines
    port, memory = free_port(), MemoryProvider()
    with served(configure(first, port), port, mailer=memory_mailer(memory)) as (url, _):
        form = {"email": "New.Person@example.net", "consent": "v1", "website": ""}
        assert requests.post(f"{url}subscribe", data=form, timeout=10).status_code == 200
        page = requests.get(confirm_link(memory.messages[0].data), timeout=10)
        confirmed = requests.post(form_action(page.text), timeout=10)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert not (first / "subscribers.csv").exists()  # the list is the database's
    handler = SmtpHandler()
    with smtp_server(handler) as smtp_port:
        smtp_settings(second, smtp_port)
        out = finished(second, "send", "latest", "--provider", "smtp", "--yes", "--now", AT)
    assert "Sent 1," in out
    assert list(handler.received()) == ["New.Person@example.net"]


def test_erase_in_one_machine_removes_the_row_the_other_reads(machines: tuple[Path, Path]) -> None:
    first, second = machines
    source = write_list(first.parent, 5)
    finished(first, "subscribers", "import", str(source))
    assert "r003@example.org" in finished(second, "subscribers", "export")
    finished(first, "subscribers", "erase", "r003@example.org", "--yes")
    exported = finished(second, "subscribers", "export")
    assert "r003@example.org" not in exported
    assert exported.count("@example.org") == 4
