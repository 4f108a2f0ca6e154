"""`serve` on the shared database keeps answering after the database restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from innovate_news.store import postgres
from innovate_news.store.ledger import Ledger
from tests.support.listservice import SECRET, configure, served, token, write_list
from tests.support.servers import free_port
from tests.support.stores import URL_VARIABLE, StoreBackend, own_server

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
PEOPLE = ("amelia.hart@example.org", "ben.okoro@example.com", "chen.li@example.org")


def test_serve_keeps_answering_after_a_database_restart(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with own_server() as server:
        url = server.create_database()
        postgres.migrate(url)
        monkeypatch.setenv(URL_VARIABLE, url)
        monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
        StoreBackend("postgresql").use_in(project)
        port = free_port()
        settings = configure(project, port)
        write_list(project, [f"{a},Reader,subscribed,,," for a in PEOPLE])
        with served(settings, port) as (base, service):

            def leave(address: str) -> int:
                link = f"{base}unsubscribe?t={token(service, 'unsubscribe', address)}"
                return requests.post(link, data=ONE_CLICK, timeout=10).status_code

            assert leave(PEOPLE[0]) == 200
            server.restart()  # every connection the service had is gone
            assert leave(PEOPLE[1]) == 200
            server.restart()
            assert leave(PEOPLE[2]) == 200
        with Ledger.open(settings) as ledger:
            assert ledger.suppressed() == set(PEOPLE)
