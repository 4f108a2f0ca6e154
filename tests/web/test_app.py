"""The list service over real HTTP (waitress on loopback): unsubscribe, preferences, sign-up."""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from innovate_news.audience.lifecycle import Mailer
from innovate_news.audience.signups import Signups
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.mail import Message, Receipt
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support.listservice import (
    SECRET,
    Clock,
    configure,
    served,
    the_list,
    token,
    write_list,
)
from tests.support.servers import SmtpHandler, free_port, smtp_server
from tests.support.stores import StoreBackend


@pytest.fixture(autouse=True)
def on_each_backend(store_backend: StoreBackend) -> StoreBackend:
    """Every test here runs with the ledger and sign-ups on SQLite, then on PostgreSQL."""
    return store_backend


ONE_CLICK = {"List-Unsubscribe": "One-Click"}
ROWS = [
    "amelia.hart@example.org,Amelia Hart,subscribed,,2020-03-05T09:12:00Z,web form",
    "ben.okoro@example.com,Ben Okoro,subscribed,event,2020-10-06T16:05:00Z,sheet",
]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def listed(project: Path, port: int) -> Settings:
    settings = configure(project, port)
    write_list(project, ROWS)
    return settings


def suppressed(settings: Settings) -> set[str]:
    with Ledger.open(settings) as ledger:
        return ledger.suppressed()


def memory_mailer(memory: MemoryProvider) -> Mailer:
    def send(message: Message) -> Receipt:
        return memory.send([message])[0]

    return send


def confirm_link(data: bytes) -> str:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    match = re.search(r"http://127\.0\.0\.1:\d+/confirm\?t=\S+", body.get_content())
    assert match, body.get_content()
    return match.group(0)


def form_action(page: str) -> str:
    """The action of the page's one form, as a browser would post to it."""
    action = re.search(r'action="([^"]+)"', page)
    assert action, page
    return action.group(1).replace("&amp;", "&")


def test_one_click_post_unsubscribes_at_once(listed: Settings, port: int) -> None:
    with served(listed, port) as (url, service):
        link = f"{url}unsubscribe?t={token(service, 'unsubscribe', 'amelia.hart@example.org')}"
        answer = requests.post(link, data=ONE_CLICK, allow_redirects=False, timeout=10)
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    assert "You are unsubscribed" in answer.text
    assert suppressed(listed) == {"amelia.hart@example.org"}


@pytest.mark.parametrize("spoil", ["mac", "purpose", "list", "empty", "missing"])
def test_a_bad_token_gets_400_and_changes_nothing(listed: Settings, port: int, spoil: str) -> None:
    with served(listed, port) as (url, service):
        good = token(service, "unsubscribe", "amelia.hart@example.org")
        bad = {
            "mac": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
            "purpose": token(service, "preferences", "amelia.hart@example.org"),
            "list": service.keyring.sign("unsubscribe", "other.example.org", "amelia.hart@x.org"),
            "empty": "",
            "missing": None,
        }[spoil]
        link = f"{url}unsubscribe" + ("" if bad is None else f"?t={bad}")
        answer = requests.post(link, data=ONE_CLICK, allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert "This link does not work" in answer.text
    assert suppressed(listed) == set()


def test_get_shows_one_button_and_never_unsubscribes(listed: Settings, port: int) -> None:
    with served(listed, port) as (url, service):
        value = token(service, "unsubscribe", "ben.okoro@example.com")
        pages = [requests.get(f"{url}unsubscribe?t={value}", timeout=10) for _ in range(3)]
        assert suppressed(listed) == set()
        page = pages[0].text
        assert pages[0].status_code == 200
        assert page.count("<form") == 1 and 'method="post"' in page
        assert "ben.okoro@example.com" in page
        # It looks like the archive: the site's base template and stylesheet.
        assert 'class="masthead"' in page and "https://example.org/innovate/style.css" in page
        assert value not in page.split("<main")[0]  # no token in the canonical URL or head
        action = re.search(r'action="([^"]+)"', page)
        assert action
        done = requests.post(action.group(1).replace("&amp;", "&"), data=ONE_CLICK, timeout=10)
    assert done.status_code == 200
    assert suppressed(listed) == {"ben.okoro@example.com"}


def test_preferences_change_topics_in_the_list_and_can_leave(listed: Settings, port: int) -> None:
    with served(listed, port) as (url, service):
        link = f"{url}preferences?t={token(service, 'preferences', 'ben.okoro@example.com')}"
        page = requests.get(link, timeout=10).text
        assert re.search(r'value="event" checked', page)
        assert not re.search(r'value="finding" checked', page)
        saved = requests.post(link, data={"topics": ["finding", "blog"]}, timeout=10)
        assert saved.status_code == 200 and "Saved" in saved.text
        listing = the_list(listed)
        assert listing.by_address()["ben.okoro@example.com"].topics == {"finding", "blog"}
        empty = requests.post(link, data={"action": "save"}, timeout=10)
        assert empty.status_code == 400
        assert suppressed(listed) == set()
        left = requests.post(link, data={"action": "leave"}, timeout=10)
    assert left.status_code == 200
    assert suppressed(listed) == {"ben.okoro@example.com"}
    rows = the_list(listed).by_address()
    assert rows["ben.okoro@example.com"].topics == {"finding", "blog"}
    assert rows["amelia.hart@example.org"].consent_source == "web form"


def test_the_whole_sign_up_loop_through_smtp(project: Path, port: int) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as smtp_port:
        settings = configure(project, port, provider="smtp", smtp_port=smtp_port)
        write_list(project, ROWS)
        with served(settings, port) as (url, _):
            form = {"email": "New.Person@Example.NET", "name": "New Person", "topics": "blog",
                    "consent": "v1", "website": ""}  # fmt: skip
            answer = requests.post(f"{url}subscribe", data=form, timeout=10)
            assert answer.status_code == 200 and "Check your inbox" in answer.text
            assert "New.Person@example.net" not in the_list(settings).by_address()
            [(recipient, data)] = handler.messages
            assert recipient == "New.Person@example.net"
            assert b"New Person" not in data  # nothing a stranger typed but the address
            link = confirm_link(data)
            page = requests.get(link, timeout=10)
            assert page.status_code == 200 and page.text.count("<form") == 1
            assert "New.Person@example.net" not in (the_list(settings).by_address())
            confirmed = requests.post(form_action(page.text), timeout=10)
            again = requests.post(link, timeout=10)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert again.status_code == 410
    listing = the_list(settings)
    assert not listing.problems
    person = listing.by_address()["New.Person@example.net"]
    assert (person.name, person.status, person.topics) == (
        "New Person",
        "subscribed",
        frozenset({"blog"}),
    )
    assert person.consent_source == "web sign-up (consent v1)"
    assert person.consent_at.endswith("Z")
    assert len(listing.subscribers) == 3  # the reuse added nobody


def test_an_expired_confirmation_link_adds_nobody(listed: Settings, port: int) -> None:
    clock, memory = Clock(), MemoryProvider()
    with served(listed, port, clock=clock, mailer=memory_mailer(memory)) as (url, _):
        form = {"email": "late@example.org", "consent": "v1"}
        assert requests.post(f"{url}subscribe", data=form, timeout=10).status_code == 200
        link = confirm_link(memory.messages[0].data)
        clock.advance(dt.timedelta(days=7, seconds=1))
        answer = requests.get(link, timeout=10)
    assert answer.status_code == 400 and "expired" in answer.text
    assert "late@example.org" not in the_list(listed).by_address()


def test_honeypot_and_bad_forms_send_nothing(listed: Settings, port: int) -> None:
    memory = MemoryProvider()
    with served(listed, port, mailer=memory_mailer(memory)) as (url, _):
        robot = {"email": "victim@example.org", "consent": "v1", "website": "http://spam"}
        fooled = requests.post(f"{url}subscribe", data=robot, timeout=10)
        no_consent = requests.post(f"{url}subscribe", data={"email": "a@example.org"}, timeout=10)
        bad_email = {"email": "not-an-address", "consent": "v1"}
        invalid = requests.post(f"{url}subscribe", data=bad_email, timeout=10)
        formula = {"email": "b@example.org", "name": "=HYPERLINK(1)", "consent": "v1"}
        named = requests.post(f"{url}subscribe", data=formula, timeout=10)
    assert fooled.status_code == 200 and "Check your inbox" in fooled.text
    assert no_consent.status_code == 400 and "tick the box" in no_consent.text
    assert 'value="a@example.org"' in no_consent.text  # the form comes back filled in
    assert invalid.status_code == 400 and named.status_code == 400
    assert memory.count == 0
    with Signups.open(listed) as signups:
        assert signups.about("victim@example.org") == []


def test_sign_ups_are_rate_limited_per_client(project: Path, port: int) -> None:
    settings = configure(project, port, signup_rate=2)
    write_list(project, ROWS)
    memory = MemoryProvider()
    with served(settings, port, mailer=memory_mailer(memory)) as (url, _):
        answers = [
            requests.post(f"{url}subscribe", data={"email": f"p{i}@example.org", "consent": "1"},
                          timeout=10)
            for i in range(4)
        ]  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2].headers["Retry-After"] == "3600"
    assert memory.count == 2


def test_one_address_gets_at_most_three_confirmations_a_day(listed: Settings, port: int) -> None:
    memory = MemoryProvider()
    clock = Clock()
    with served(listed, port, mailer=memory_mailer(memory), clock=clock) as (url, _):
        for _ in range(5):  # two hours apart, so the per-client limit never bites
            form = {"email": "target@example.org", "consent": "v1"}
            assert requests.post(f"{url}subscribe", data=form, timeout=10).status_code == 200
            clock.advance(dt.timedelta(hours=2))
    assert memory.count == 3


def test_a_suppressed_address_comes_back_only_by_confirming(listed: Settings, port: int) -> None:
    memory = MemoryProvider()
    with served(listed, port, mailer=memory_mailer(memory)) as (url, service):
        out = f"{url}unsubscribe?t={token(service, 'unsubscribe', 'amelia.hart@example.org')}"
        requests.post(out, data=ONE_CLICK, timeout=10)
        form = {"email": "amelia.hart@example.org", "consent": "v1", "topics": "finding"}
        requests.post(f"{url}subscribe", data=form, timeout=10)
        assert suppressed(listed) == {"amelia.hart@example.org"}
        answer = requests.post(confirm_link(memory.messages[0].data), timeout=10)
    assert answer.status_code == 200
    assert suppressed(listed) == set()
    listing = the_list(listed)
    amelia = listing.by_address()["amelia.hart@example.org"]
    assert (amelia.status, amelia.topics, amelia.name) == (
        "subscribed",
        frozenset({"finding"}),
        "Amelia Hart",
    )
    assert len(listing.subscribers) == 2 and not listing.duplicates


def test_fifty_concurrent_unsubscribes_and_sign_ups_lose_nothing(project: Path, port: int) -> None:
    settings = configure(project, port, signup_rate=10_000)
    people = [f"reader{i:02d}@example.org" for i in range(50)]
    write_list(project, [f"{a},Reader,subscribed,,," for a in people])
    memory = MemoryProvider()
    with served(settings, port, mailer=memory_mailer(memory), threads=16) as (url, service):
        newcomers = [f"new{i:02d}@example.net" for i in range(50)]

        def sign_up(address: str) -> int:
            form = {"email": address, "consent": "v1"}
            return requests.post(f"{url}subscribe", data=form, timeout=30).status_code

        with ThreadPoolExecutor(50) as pool:
            assert set(pool.map(sign_up, newcomers)) == {200}
        links = [confirm_link(m.data) for m in memory.messages]
        leaving = [f"{url}unsubscribe?t={token(service, 'unsubscribe', a)}" for a in people]

        def hit(job: tuple[str, str]) -> int:
            kind, link = job
            if kind == "confirm":
                return requests.post(link, timeout=30).status_code
            return requests.post(link, data=ONE_CLICK, timeout=30).status_code

        jobs = [j for pair in zip(links, leaving, strict=True) for j in
                (("confirm", pair[0]), ("leave", pair[1]))]  # fmt: skip
        with ThreadPoolExecutor(50) as pool:
            assert set(pool.map(hit, jobs)) == {200}
    assert suppressed(settings) == set(people)
    listing = the_list(settings)
    assert not listing.problems and not listing.duplicates
    assert set(listing.by_address()) == set(people) | set(newcomers)


def test_the_sign_up_form_shows_the_versioned_consent_and_hides_the_trap(
    listed: Settings, port: int
) -> None:
    with served(listed, port) as (url, _):
        page = requests.get(f"{url}subscribe", timeout=10)
        home = requests.get(url, timeout=10)
    assert page.status_code == home.status_code == 200
    assert listed.email["consent_text"] in page.text
    assert 'name="consent" value="v1" required' in page.text
    assert 'class="trap" aria-hidden="true"' in page.text and 'tabindex="-1"' in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
