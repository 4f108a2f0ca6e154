"""End to end: `innovate-news serve` in its own process, `send` through the CLI, crashes by kill."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from click.testing import Result

from innovate_news.audience import subscribers
from innovate_news.audience.tokens import Keyring
from innovate_news.settings import Settings
from tests.support import crashes
from tests.support.listservice import LIST_ID, SECRET, configure, write_list
from tests.support.servers import free_port

Run = Callable[..., Result]
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@contextlib.contextmanager
def serving(
    settings: Settings, port: int, crash: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`innovate-news serve` in a child process, answering before the block starts.

    With `crash`, the child dies at that point of a list write (see tests.support.crashes).
    """
    args = ["-m", "innovate_news", "--config", str(settings.path), "serve",
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    child = subprocess.Popen(
        crashes.command(crash, *args) if crash else [sys.executable, *args],
        env={**os.environ, "INNOVATE_NEWS_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
        if child.stderr:
            child.stderr.close()


def parsed(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_unsubscribing_through_the_link_of_a_sent_issue_stops_the_next_one(
    project: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    port = free_port()
    settings = configure(project, port)
    write_list(project, [
        "amelia.hart@example.org,Amelia Hart,subscribed,,,web form",
        "fatima.rahman@example.org,Fatima Rahman,subscribed,,,web form",
    ])  # fmt: skip
    first = run("send", "2022-06-summer-update", "--yes")
    assert first.exit_code == 0, first.output
    outbox = settings.folder("outbox")
    copy = parsed(outbox / "2022-06-summer-update" / "amelia.hart@example.org.eml")
    assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.search(r"<(http://127\.0\.0\.1:\d+/unsubscribe\?t=[^>]+)>", copy["List-Unsubscribe"])
    assert match, copy["List-Unsubscribe"]
    with serving(settings, port):
        # What a mailbox provider does with RFC 8058: POST to the header's URL, no cookies.
        answer = requests.post(match.group(1), data=ONE_CLICK, allow_redirects=False, timeout=10)
    assert answer.status_code == 200
    second = run("send", "2023-06-guidance-year", "--yes")
    assert second.exit_code == 0, second.output
    got = sorted(p.name for p in (outbox / "2023-06-guidance-year").glob("*.eml"))
    assert got == ["fatima.rahman@example.org.eml"]
    assert "1 suppressed" in second.output
    assert run("subscribers", "sync").exit_code == 0
    people = subscribers.read(settings.root / "subscribers.csv").by_address()
    assert people["amelia.hart@example.org"].status == "unsubscribed"


def confirmation_links(outbox: Path) -> dict[str, str]:
    links = {}
    for path in (outbox / "confirmations").glob("*.eml"):
        body = parsed(path).get_body(("plain",))
        assert body is not None
        match = re.search(r"http://127\.0\.0\.1:\d+/confirm\?t=\S+", body.get_content())
        assert match
        links[path.stem] = match.group(0)
    return links


@pytest.mark.slow
def test_a_server_killed_under_load_leaves_a_valid_list_and_loses_no_answered_change(
    project: Path,
) -> None:
    port = free_port()
    settings = configure(project, port, signup_rate=10_000)
    write_list(project, [f"r{i:03d}@example.org,Reader {i},subscribed,,," for i in range(200)])
    people = [f"new{i:03d}@example.net" for i in range(120)]
    url = f"http://127.0.0.1:{port}/"
    with serving(settings, port):
        with ThreadPoolExecutor(16) as pool:
            codes = pool.map(
                lambda a: requests.post(f"{url}subscribe", data={"email": a, "consent": "v1"},
                                        timeout=30).status_code,
                people,
            )  # fmt: skip
            assert set(codes) == {200}
        links = confirmation_links(settings.folder("outbox"))
        assert len(links) == len(people)
    confirmed: list[str] = []
    with serving(settings, port) as child:

        def confirm(address: str) -> None:
            with contextlib.suppress(requests.RequestException):
                if requests.post(links[address], timeout=30).status_code == 200:
                    confirmed.append(address)

        with ThreadPoolExecutor(16) as pool:
            for address in people:
                pool.submit(confirm, address)
            deadline = time.monotonic() + 30
            while len(confirmed) < 30 and time.monotonic() < deadline:
                time.sleep(0.005)
            child.send_signal(
                signal.SIGKILL
            )  # no clean-up, no flush: as a power cut to the process
    listing = subscribers.read(settings.root / "subscribers.csv")
    assert not listing.problems and not listing.duplicates
    on_list = set(listing.by_address())
    assert set(confirmed) <= on_list  # every change answered 200 is on disk
    assert len(on_list) < 200 + len(people)  # the kill really came mid-way
    with serving(settings, port):
        for address in people:
            if address not in on_list:
                assert requests.post(links[address], timeout=30).status_code == 200
    listing = subscribers.read(settings.root / "subscribers.csv")
    assert not listing.problems and not listing.duplicates
    assert len(listing.subscribers) == 200 + len(people)


def test_a_crash_injected_in_the_middle_of_a_list_rewrite_leaves_the_old_list(
    project: Path,
) -> None:
    port = free_port()
    settings = configure(project, port)
    path = write_list(project, [f"r{i:03d}@example.org,Reader,subscribed,,," for i in range(300)])
    before = path.read_bytes()
    value = Keyring.parse(SECRET).sign("preferences", LIST_ID, "r007@example.org")
    link = f"http://127.0.0.1:{port}/preferences?t={value}"
    with serving(settings, port, crash="mid_rewrite") as child:
        with pytest.raises(requests.ConnectionError):
            requests.post(link, data={"topics": "event"}, timeout=30)
        assert child.wait(10) == crashes.CRASH_EXIT
    assert path.read_bytes() == before
    with serving(settings, port):
        assert requests.post(link, data={"topics": "event"}, timeout=30).status_code == 200
    listing = subscribers.read(path)
    assert not listing.problems and len(listing.subscribers) == 300
    assert listing.by_address()["r007@example.org"].topics == {"event"}
    assert not [p for p in project.iterdir() if p.name.endswith(".tmp")]
