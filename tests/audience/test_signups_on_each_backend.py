"""Sign-ups from several processes at once on one store (two `serve` machines on one shared
database): the per-address daily limit and the per-client rate hold across connections."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from innovate_news.audience.signups import PER_ADDRESS
from tests.support.stores import StoreBackend

NOW = dt.datetime(2031, 3, 4, 10, 0, tzinfo=dt.UTC)


def test_the_daily_limit_holds_across_connections(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    path = tmp_path / "signups.sqlite3"
    machines = [store_backend.signups(path) for _ in range(4)]  # a connection each
    start = threading.Barrier(16)

    def sign_up(n: int) -> bool:
        start.wait(timeout=10)
        consent = ("v1", "I agree.")
        return machines[n % 4].add("same@example.org", "Same", "", consent, NOW) is not None

    with ThreadPoolExecutor(16) as pool:
        taken = list(pool.map(sign_up, range(16)))
    assert taken.count(True) == PER_ADDRESS
    assert len(machines[0].about("SAME@example.org")) == PER_ADDRESS


def test_the_client_rate_holds_across_connections(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    path = tmp_path / "signups.sqlite3"
    machines = [store_backend.signups(path) for _ in range(4)]
    start = threading.Barrier(16)

    def hit(n: int) -> bool:
        start.wait(timeout=10)
        return machines[n % 4].allow("198.51.100.7", NOW, 5)

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(hit, range(16))).count(True) == 5
