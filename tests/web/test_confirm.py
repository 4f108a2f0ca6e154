"""The confirmation link over real HTTP: fetching it (a mail scanner) subscribes nobody."""

from __future__ import annotations

import datetime as dt
import re

import requests

from innovate_news.audience import subscribers
from innovate_news.audience.signups import Signups
from innovate_news.delivery.providers.memory import MemoryProvider
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support.listservice import (
    Clock,
    served,
    the_list,
    token,
)
from tests.web.test_app import (  # the fixtures too: the same list, secret, port and backends
    confirm_link,
    form_action,
    listed,
    memory_mailer,
    on_each_backend,
    port,
    secret,
)

__all__ = ["listed", "on_each_backend", "port", "secret"]  # fixtures, used by name


START = dt.datetime(2024, 5, 6, 9, 0, tzinfo=dt.UTC)


def on_list(settings: Settings) -> dict[str, subscribers.Subscriber]:
    return the_list(settings).by_address()


def test_get_and_head_show_one_button_and_only_its_post_confirms(
    listed: Settings, port: int
) -> None:
    clock, memory = Clock(START), MemoryProvider()
    with served(listed, port, clock=clock, mailer=memory_mailer(memory)) as (url, _):
        form = {"email": "scanned@example.org", "consent": "v1"}
        assert requests.post(f"{url}subscribe", data=form, timeout=10).status_code == 200
        link = confirm_link(memory.messages[0].data)
        # What a link scanner does, a minute after delivery: several GETs and a HEAD.
        clock.advance(dt.timedelta(minutes=1))
        pages = [requests.get(link, timeout=10) for _ in range(3)]
        head = requests.head(link, timeout=10)
        assert [p.status_code for p in pages] == [200, 200, 200] and head.status_code == 200
        assert "scanned@example.org" not in on_list(listed)
        with Signups.open(listed) as signups:
            [pending] = signups.about("scanned@example.org")
        assert pending.confirmed_at is None
        page = pages[0].text
        assert page.count("<form") == 1 and 'method="post"' in page
        assert page.count("<button") == 1 and "scanned@example.org" in page
        assert listed.email["consent_text"] in page
        assert link.partition("t=")[2] not in page.split("<main")[0]  # not in the head
        # The person reads the page and clicks an hour later: that is when they consented.
        clock.advance(dt.timedelta(hours=1))
        confirmed = requests.post(form_action(page), timeout=10)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    person = on_list(listed)["scanned@example.org"]
    assert person.consent_at == "2024-05-06T10:01:00Z"
    with Signups.open(listed) as signups:
        [used] = signups.about("scanned@example.org")
    assert used.confirmed_at == "2024-05-06T10:01:00Z"


def test_a_fetched_link_still_lifts_nothing_until_posted(listed: Settings, port: int) -> None:
    """A suppressed address is not brought back by a scanner fetching its confirmation link."""
    memory = MemoryProvider()
    with served(listed, port, mailer=memory_mailer(memory)) as (url, service):
        out = f"{url}unsubscribe?t={token(service, 'unsubscribe', 'amelia.hart@example.org')}"
        assert requests.post(out, timeout=10).status_code == 200
        form = {"email": "amelia.hart@example.org", "consent": "v1"}
        requests.post(f"{url}subscribe", data=form, timeout=10)
        link = confirm_link(memory.messages[0].data)
        requests.get(link, timeout=10)
        requests.head(link, timeout=10)
        with Ledger.open(listed) as ledger:
            assert ledger.suppressed() == {"amelia.hart@example.org"}
        assert requests.post(link, timeout=10).status_code == 200
        again = requests.get(link, timeout=10)
    assert again.status_code == 410 and "already been used" in again.text
    with Ledger.open(listed) as ledger:
        assert ledger.suppressed() == set()


def test_a_bad_confirmation_link_shows_no_button(listed: Settings, port: int) -> None:
    with served(listed, port) as (url, service):
        forged = service.keyring.sign("confirm", "other.example.org", "nobody", expires=None)
        unknown = service.link("confirm", "confirm", "no-such-signup")
        answers = [
            requests.get(f"{url}confirm?t={forged}", timeout=10),
            requests.get(unknown, timeout=10),
            requests.post(unknown, timeout=10),
        ]
    assert [a.status_code for a in answers] == [400, 410, 410]
    assert not any(re.search(r"<form[^>]*confirm", a.text) for a in answers)
