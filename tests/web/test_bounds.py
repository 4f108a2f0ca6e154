"""Hostile requests through the real waitress server: bounded bodies, odd bytes, no 500s."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from innovate_news.secrecy import redact
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from innovate_news.web import webhooks
from innovate_news.web.app import PAGE_BODY, WEBHOOK_BODY
from tests.support.listservice import SECRET, configure, served, token, write_list
from tests.support.servers import free_port

POSTMARK_PASSWORD = "pm-webhook-password-bounds-0123"
MAILGUN_KEY = "mailgun-signing-key-bounds-0123456789"
ENVIRON = {
    "INNOVATE_NEWS_POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
    "INNOVATE_NEWS_MAILGUN_WEBHOOK_KEY": MAILGUN_KEY,
}
ADDRESS = "amelia.hart@example.org"


@pytest.fixture
def service(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[str, str, Settings]]:
    """(server URL, an unsubscribe token for ADDRESS, settings); no traceback may be logged."""
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    port = free_port()
    settings = configure(project, port)
    write_list(project, [f"{ADDRESS},Amelia Hart,subscribed,,,"])
    caplog.set_level(logging.WARNING)
    with served(settings, port, environ=ENVIRON) as (url, service):
        yield url, token(service, "unsubscribe", ADDRESS), settings
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks[0].getMessage()


def suppressed(settings: Settings) -> set[str]:
    with Ledger.open(settings) as ledger:
        return ledger.suppressed()


def status_line(url: str, head: bytes, patience: float = 5.0) -> bytes:
    """Send only a request's head to the server at `url`; the first line of its answer."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=patience) as conn:
        conn.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)  # socket.timeout if the server waits for the body
            if not chunk:
                break
            answer += chunk
    return answer.partition(b"\r\n")[0]


def test_a_200_mb_post_gets_413_from_its_head_alone(service: tuple[str, str, Settings]) -> None:
    url, value, settings = service
    head = (
        f"POST /unsubscribe?t={value} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    ).encode("ascii")
    started = time.monotonic()
    line = status_line(url, head)  # not one byte of the 200 MB is sent
    assert line.startswith(b"HTTP/1.1 413"), line
    assert time.monotonic() - started < 3
    assert suppressed(settings) == set()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_page_body_over_64_kib_is_refused_before_any_change(
    service: tuple[str, str, Settings], chunked: bool
) -> None:
    url, value, settings = service
    body = b"List-Unsubscribe=One-Click&pad=" + b"x" * PAGE_BODY
    data = iter([body[:1000], body[1000:]]) if chunked else body
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(f"{url}unsubscribe?t={value}", data=data, headers=form, timeout=10)
    signup = b"email=new%40example.org&consent=v1&name=" + b"x" * PAGE_BODY
    refused = requests.post(f"{url}subscribe", data=signup, headers=form, timeout=10)
    assert answer.status_code == refused.status_code == 413
    assert "too large" in answer.text
    assert suppressed(settings) == set()
    small = requests.post(f"{url}unsubscribe?t={value}", data=body[:2000], headers=form, timeout=10)
    assert small.status_code == 200 and suppressed(settings) == {ADDRESS}


def test_a_webhook_body_may_be_a_big_batch_but_not_more(
    service: tuple[str, str, Settings],
) -> None:
    url, _, settings = service
    # Postmark's bounce webhook with the bounce dump included: one event, a long Content.
    bounce = {"RecordType": "Bounce", "Type": "HardBounce", "Email": ADDRESS,
              "Content": "Received: from mx.example.org\r\n" * 30_000}  # fmt: skip
    body = json.dumps(bounce).encode("utf-8")
    assert PAGE_BODY < len(body) < WEBHOOK_BODY
    auth = ("postmark", POSTMARK_PASSWORD)
    kind = {"Content-Type": "application/json"}
    read = requests.post(f"{url}webhooks/postmark", data=body, auth=auth, headers=kind, timeout=10)
    assert read.status_code == 200 and suppressed(settings) == {ADDRESS}
    bounce["Email"], bounce["Content"] = "other@example.org", "x" * WEBHOOK_BODY
    huge = json.dumps(bounce).encode("utf-8")
    refused = requests.post(
        f"{url}webhooks/postmark", data=huge, auth=auth, headers=kind, timeout=10
    )
    assert refused.status_code == 413
    assert suppressed(settings) == {ADDRESS}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_non_ascii_character_in_a_token_is_a_bad_link(
    service: tuple[str, str, Settings], method: str
) -> None:
    url, value, settings = service
    spoiled = value[:-1] + "%C3%A9"  # an é in place of the MAC's last character
    answers = [
        requests.request(method, f"{url}{page}?t={spoiled}", timeout=10)
        for page in ("unsubscribe", "preferences", "confirm")
    ]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all("This link does not work" in a.text for a in answers)
    assert suppressed(settings) == set()


def mailgun_body(signature: str, token: str = "a" * 50) -> dict[str, object]:
    return {
        "signature": {"timestamp": str(int(time.time())), "token": token, "signature": signature},
        "event-data": {"event": "complained", "recipient": ADDRESS},
    }


@pytest.mark.parametrize(
    "signature",
    ["\u00e9" * 64, "0" * 63 + "\u00e9", "\ud800"],
    ids=["accents", "last", "surrogate"],
)
def test_a_non_ascii_mailgun_signature_is_refused_without_a_traceback(
    service: tuple[str, str, Settings], signature: str
) -> None:
    url, _, settings = service
    answers = [
        requests.post(f"{url}webhooks/mailgun", json=mailgun_body(signature), timeout=10),
        requests.post(f"{url}webhooks/mailgun", json=mailgun_body("0" * 64, "\u00e9"), timeout=10),
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert all("not ASCII" in a.json()["error"] for a in answers)
    assert suppressed(settings) == set()
    body = mailgun_body("")
    sig = body["signature"]
    assert isinstance(sig, dict)
    mac = hmac.new(MAILGUN_KEY.encode(), (sig["timestamp"] + sig["token"]).encode(), "sha256")
    sig["signature"] = mac.hexdigest()
    assert requests.post(f"{url}webhooks/mailgun", json=body, timeout=10).status_code == 200
    assert suppressed(settings) == {ADDRESS}


@pytest.mark.parametrize(
    "authorization",
    ["Basic \u00e9t\u00e9".encode("latin-1"), "Basic \u00e9t\u00e9".encode(), b"B\xe4sic abc"],
    ids=["latin-1", "utf-8", "scheme"],
)
def test_a_non_ascii_postmark_authorization_gets_401_without_a_traceback(
    service: tuple[str, str, Settings], authorization: bytes
) -> None:
    url, _, settings = service
    event = {"RecordType": "SpamComplaint", "Email": ADDRESS}
    answer = requests.post(
        f"{url}webhooks/postmark", json=event, headers={"Authorization": authorization},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 401 and "credentials" in answer.json()["error"]
    assert suppressed(settings) == set()


@pytest.mark.parametrize("variable", sorted(webhooks.VARIABLES.values()))
def test_redact_knows_the_webhook_secrets(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    secret = "whsec-" + hashlib.sha256(variable.encode()).hexdigest()[:24]
    monkeypatch.setenv(variable, secret)
    logged = redact(f"webhook refused: HMAC key {secret!r} did not verify ({secret})")
    assert secret not in logged and logged.count("[redacted]") == 2
