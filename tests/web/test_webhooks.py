"""Webhooks over real HTTP: good signatures suppress, bad ones are refused and change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from innovate_news.errors import RefusedError
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from innovate_news.web import webhooks
from tests.support.listservice import SECRET, configure, served, write_list
from tests.support.servers import free_port
from tests.support.stores import StoreBackend


@pytest.fixture(autouse=True)
def on_each_backend(store_backend: StoreBackend) -> StoreBackend:
    """Every test here runs with the ledger and sign-ups on SQLite, then on PostgreSQL."""
    return store_backend


POSTMARK_PASSWORD = "pm-webhook-password-0123"
MAILGUN_KEY = "mailgun-signing-key-0123456789"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def public_der(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


ENVIRON = {
    "INNOVATE_NEWS_POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
    "INNOVATE_NEWS_MAILGUN_WEBHOOK_KEY": MAILGUN_KEY,
    "INNOVATE_NEWS_SENDGRID_WEBHOOK_PUBLIC_KEY": public_der(SENDGRID_KEY),
}


@pytest.fixture
def service(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Settings]]:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    port = free_port()
    settings = configure(project, port)
    write_list(project, ["gone@example.org,Gone,subscribed,,,"])
    with served(settings, port, environ=ENVIRON) as (url, _):
        yield url, settings


def suppressions(settings: Settings) -> dict[str, str]:
    with Ledger.open(settings) as ledger:
        return {s.address: s.reason for s in ledger.suppressions()}


# Postmark ---------------------------------------------------------------------------------


def postmark(url: str, body: dict[str, Any], auth: tuple[str, str] | None) -> requests.Response:
    return requests.post(f"{url}webhooks/postmark", json=body, auth=auth, timeout=10)


def test_postmark_hard_bounce_and_complaint_become_suppressions(
    service: tuple[str, Settings],
) -> None:
    url, settings = service
    good = ("postmark", POSTMARK_PASSWORD)
    bounce = {"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1,
              "Email": "Gone@Example.ORG", "MessageStream": "broadcast"}  # fmt: skip
    soft = {"RecordType": "Bounce", "Type": "SoftBounce", "Email": "soft@example.org"}
    spam = {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": "spam@example.org"}
    answers = [postmark(url, body, good) for body in (bounce, soft, spam)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == {"events": 1, "suppressed": 1}
    assert suppressions(settings) == {
        "gone@example.org": "bounced",  # addresses are recorded in lower case throughout
        "spam@example.org": "complained",
    }


@pytest.mark.parametrize(
    "auth", [None, ("postmark", "wrong-password"), ("someone", POSTMARK_PASSWORD)]
)
def test_postmark_without_the_right_credentials_is_refused(
    service: tuple[str, Settings], auth: tuple[str, str] | None
) -> None:
    url, settings = service
    body = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "gone@example.org"}
    answer = postmark(url, body, auth)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert suppressions(settings) == {}


# Mailgun ----------------------------------------------------------------------------------


def mailgun_body(event: dict[str, Any], key: str = MAILGUN_KEY, age: int = 0) -> dict[str, Any]:
    # Mailgun signs each request with a new random token: one seen before is a replay.
    timestamp, token = str(int(time.time()) - age), secrets.token_hex(25)
    mac = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": mac},
            "event-data": event}  # fmt: skip


def test_mailgun_permanent_failures_and_complaints_become_suppressions(
    service: tuple[str, Settings],
) -> None:
    url, settings = service
    events = [
        {"event": "failed", "severity": "permanent", "recipient": "gone@example.org"},
        {"event": "failed", "severity": "temporary", "recipient": "later@example.org"},
        {"event": "complained", "recipient": "spam@example.org"},
        {"event": "delivered", "recipient": "fine@example.org"},
    ]
    for event in events:
        answer = requests.post(f"{url}webhooks/mailgun", json=mailgun_body(event), timeout=10)
        assert answer.status_code == 200
    assert suppressions(settings) == {
        "gone@example.org": "bounced",
        "spam@example.org": "complained",
    }


@pytest.mark.parametrize("spoil", ["key", "tampered", "stale", "unsigned", "not json"])
def test_mailgun_with_a_bad_signature_is_refused(service: tuple[str, Settings], spoil: str) -> None:
    url, settings = service
    event = {"event": "failed", "severity": "permanent", "recipient": "gone@example.org"}
    body: Any = mailgun_body(event, key="not-the-key" if spoil == "key" else MAILGUN_KEY,
                             age=7200 if spoil == "stale" else 0)  # fmt: skip
    if spoil == "tampered":
        body["signature"]["token"] = "another-token-0000000000000000000000000000000000"
    if spoil == "unsigned":
        del body["signature"]
    data = b"gone@example.org" if spoil == "not json" else json.dumps(body).encode()
    answer = requests.post(f"{url}webhooks/mailgun", data=data, timeout=10)
    assert answer.status_code == 403
    assert suppressions(settings) == {}


# SendGrid ---------------------------------------------------------------------------------


def sendgrid(
    url: str,
    events: list[dict[str, Any]],
    key: ec.EllipticCurvePrivateKey = SENDGRID_KEY,
    age: int = 0,
    tamper: bool = False,
) -> requests.Response:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()) - age)
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    if tamper:
        body = body.replace(b"gone@", b"kept@")
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    return requests.post(f"{url}webhooks/sendgrid", data=body, headers=headers, timeout=10)


EVENTS = [
    {"email": "gone@example.org", "event": "bounce", "type": "bounce", "reason": "550 no user"},
    {"email": "blocked@example.org", "event": "bounce", "type": "blocked"},
    {"email": "spam@example.org", "event": "spamreport"},
    {"email": "fine@example.org", "event": "delivered"},
]


def test_sendgrid_signed_events_become_suppressions(service: tuple[str, Settings]) -> None:
    url, settings = service
    answer = sendgrid(url, EVENTS)
    assert answer.status_code == 200
    assert answer.json() == {"events": 2, "suppressed": 2}
    assert suppressions(settings) == {
        "gone@example.org": "bounced",
        "spam@example.org": "complained",
    }


@pytest.mark.parametrize("spoil", ["other key", "tampered", "stale", "unsigned"])
def test_sendgrid_with_a_bad_signature_is_refused(
    service: tuple[str, Settings], spoil: str
) -> None:
    url, settings = service
    if spoil == "unsigned":
        answer = requests.post(f"{url}webhooks/sendgrid", json=EVENTS, timeout=10)
    else:
        answer = sendgrid(
            url, EVENTS, key=OTHER_KEY if spoil == "other key" else SENDGRID_KEY,
            age=7200 if spoil == "stale" else 0, tamper=spoil == "tampered",
        )  # fmt: skip
    assert answer.status_code == 403
    assert suppressions(settings) == {}


def test_an_unconfigured_or_unknown_webhook_is_not_found(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    port = free_port()
    settings = configure(project, port)
    with served(settings, port, environ={}) as (url, _):
        body = mailgun_body({"event": "complained", "recipient": "a@example.org"})
        unset = requests.post(f"{url}webhooks/mailgun", json=body, timeout=10)
        unknown = requests.post(f"{url}webhooks/mandrill", json=body, timeout=10)
        get = requests.get(f"{url}webhooks/mailgun", timeout=10)
    assert (unset.status_code, unknown.status_code, get.status_code) == (404, 404, 405)
    assert suppressions(settings) == {}


def test_the_sendgrid_key_may_be_pem_and_must_be_p256() -> None:
    pem = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert webhooks.public_key(pem.decode()).curve.name == "secp256r1"
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(RefusedError, match="P-256"):
        webhooks.public_key(public_der(p384))
    with pytest.raises(RefusedError, match="not a public key"):
        webhooks.public_key("not base64 at all!")
