"""The SMTP provider against a real aiosmtpd server: TLS, AUTH, failures, and the ledger after."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from innovate_news.audience import subscribers
from innovate_news.delivery.dkim import Signer
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.pacing import RateLimiter
from innovate_news.delivery.providers.smtp import SmtpConfig, SmtpProvider, is_loopback
from innovate_news.errors import AuthError, SendError
from innovate_news.mail import Message
from innovate_news.store.ledger import Ledger
from tests.support.servers import (
    ISSUE,
    PASSWORD,
    USER,
    Certificates,
    SimpleComposer,
    SmtpHandler,
    deliver,
    numbered,
    silent_server,
    smtp_server,
    write_list,
)
from tests.support.stores import StoreBackend


def make_provider(
    port: int, security: str = "none", concurrency: int = 1, max_attempts: int = 4, **config: Any
) -> SmtpProvider:
    """A provider for the test server, with small timeouts and backoffs so failures are quick."""
    values: dict[str, Any] = {"timeout": 2.0, "rate": 100_000.0, "max_per_connection": 1000}
    values.update(config)
    limits = Limits(batch_size=1, concurrency=concurrency, max_attempts=max_attempts,
                    backoff=0.01, max_wait=5)  # fmt: skip
    settings = SmtpConfig(host="127.0.0.1", port=port, security=security, sender=USER, **values)
    return SmtpProvider(settings, limits)


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    """The ledger on each store backend in turn."""
    return store_backend.ledger(tmp_path / "state" / "ledger.sqlite3")


@pytest.fixture
def hundred(tmp_path: Path) -> subscribers.SubscriberList:
    return subscribers.read(write_list(tmp_path, 100))


def addr(number: int) -> str:
    return f"r{number:03d}@example.org"


def test_dropped_after_37_then_rerun_delivers_38_to_100_exactly_once(
    ledger: Ledger, hundred: subscribers.SubscriberList
) -> None:
    handler = SmtpHandler(drop_after=37)
    with smtp_server(handler) as port:
        first = deliver(ledger, make_provider(port), hundred)
        assert first.sent == 37 and first.stopped
        assert numbered(handler.received()) == list(range(1, 38))
        counts = ledger.counts(ISSUE)
        assert counts["sent"] == 37 and counts["unknown"] == 0 and counts["sending"] == 0
        assert ledger.deliveries(ISSUE, ("deferred",))[0].address == addr(38)
        handler.down, handler.drop_after = False, None
        second = deliver(ledger, make_provider(port), hundred)
    assert second.sent == 63 and not second.stopped
    assert numbered(handler.received()) == list(range(1, 101))  # each exactly once
    assert ledger.counts(ISSUE)["sent"] == 100


def test_421_at_message_20_reconnects_and_loses_nothing(
    ledger: Ledger, hundred: subscribers.SubscriberList
) -> None:
    def script(stage: str, address: str, attempt: int) -> str | None:
        if stage == "data" and address == addr(20) and attempt == 1:
            return "421 4.3.2 Service shutting down"
        return None

    handler = SmtpHandler(script=script)
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port), hundred)
    assert summary.sent == 100 and summary.exit_code == 0
    assert numbered(handler.received()) == list(range(1, 101))
    assert handler.connections >= 2
    row = {d.address: d for d in ledger.deliveries(ISSUE)}[addr(20)]
    assert row.state == "sent" and row.attempts == 2


def test_451_twice_then_250_is_sent_once(ledger: Ledger, tmp_path: Path) -> None:
    def script(stage: str, address: str, attempt: int) -> str | None:
        if stage == "rcpt" and address == addr(5) and attempt <= 2:
            return "451 4.7.1 Greylisted, try again"
        return None

    handler = SmtpHandler(script=script)
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port), subscribers.read(write_list(tmp_path, 10)))
    assert summary.sent == 10 and summary.deferred == 0
    assert handler.received()[addr(5)] == 1
    row = {d.address: d for d in ledger.deliveries(ISSUE)}[addr(5)]
    assert (row.state, row.attempts) == ("sent", 3)


def test_550_user_unknown_fails_that_recipient_and_suppresses_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    def script(stage: str, address: str, attempt: int) -> str | None:
        return "550 5.1.1 <r007@example.org>: user unknown" if address == addr(7) else None

    handler = SmtpHandler(script=script)
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port), subscribers.read(write_list(tmp_path, 10)))
    assert (summary.sent, summary.failed, summary.exit_code) == (9, 1, 3)
    assert addr(7) not in handler.received()
    assert numbered(handler.received()) == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    (failed,) = ledger.deliveries(ISSUE, ("failed",))
    assert failed.address == addr(7) and "550" in failed.last_error and failed.attempts == 1
    assert ledger.is_suppressed(addr(7))


def test_a_5xx_that_is_not_user_unknown_fails_without_suppressing(
    ledger: Ledger, tmp_path: Path
) -> None:
    def script(stage: str, address: str, attempt: int) -> str | None:
        return (
            "554 5.7.1 message refused as spam" if stage == "data" and address == addr(2) else None
        )

    handler = SmtpHandler(script=script)
    with smtp_server(handler) as port:
        deliver(ledger, make_provider(port), subscribers.read(write_list(tmp_path, 3)))
    assert ledger.counts(ISSUE)["failed"] == 1
    assert not ledger.is_suppressed(addr(2))


def test_535_on_auth_aborts_before_the_first_message(
    ledger: Ledger, tmp_path: Path, hundred: subscribers.SubscriberList
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        provider = make_provider(
            port,
            "starttls",
            username=USER,
            password="wrong-password-123",
            ca_file=certificates.ca_file,
        )
        with pytest.raises(AuthError) as raised:
            deliver(ledger, provider, hundred)
    assert "535" in str(raised.value) and "wrong-password-123" not in str(raised.value)
    assert handler.messages == [] and set(handler.auth_logins) == {USER}
    assert ledger.counts(ISSUE)["pending"] == 100


def test_starttls_with_auth_delivers_over_a_verified_connection(
    ledger: Ledger, tmp_path: Path
) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        provider = make_provider(
            port, "starttls", username=USER, password=PASSWORD, ca_file=certificates.ca_file
        )
        summary = deliver(ledger, provider, subscribers.read(write_list(tmp_path, 5)))
    assert summary.sent == 5 and numbered(handler.received()) == [1, 2, 3, 4, 5]
    assert ledger.counts(ISSUE)["sent"] == 5


def test_implicit_tls_delivers(ledger: Ledger, tmp_path: Path) -> None:
    certificates = Certificates(tmp_path)
    handler = SmtpHandler()
    with smtp_server(handler, "tls", certificates) as port:
        provider = make_provider(port, "tls", ca_file=certificates.ca_file)
        summary = deliver(ledger, provider, subscribers.read(write_list(tmp_path, 3)))
    assert summary.sent == 3 and len(handler.messages) == 3


def test_a_certificate_the_client_must_not_trust_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    (tmp_path / "trusted").mkdir()
    (tmp_path / "served").mkdir()
    trusted, served = Certificates(tmp_path / "trusted"), Certificates(tmp_path / "served")
    handler = SmtpHandler()
    with smtp_server(handler, "tls", served) as port:
        provider = make_provider(port, "tls", ca_file=trusted.ca_file)
        with pytest.raises(SendError, match="not trusted"):
            deliver(ledger, provider, subscribers.read(write_list(tmp_path, 3)))
    assert handler.messages == []
    counts = ledger.counts(ISSUE)
    assert counts["pending"] == 3 and counts["sending"] == 0


def test_no_starttls_offered_means_no_plaintext_fallback(ledger: Ledger, tmp_path: Path) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:  # plain server: no STARTTLS in its EHLO
        provider = make_provider(port, "starttls")
        with pytest.raises(SendError, match="does not offer STARTTLS"):
            deliver(ledger, provider, subscribers.read(write_list(tmp_path, 3)))
    assert handler.messages == [] and ledger.counts(ISSUE)["pending"] == 3


def test_security_none_is_refused_to_a_remote_host() -> None:
    with pytest.raises(SendError, match="loopback"):
        SmtpProvider(SmtpConfig("smtp.example.org", 25, "none", USER), Limits())
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1")


def test_a_silent_server_times_out_and_nothing_is_left_unknown(
    ledger: Ledger, tmp_path: Path
) -> None:
    with silent_server() as port:
        provider = make_provider(port, timeout=0.3, max_attempts=2)
        started = time.monotonic()
        summary = deliver(ledger, provider, subscribers.read(write_list(tmp_path, 5)))
    assert time.monotonic() - started < 5
    assert summary.sent == 0 and summary.stopped
    counts = ledger.counts(ISSUE)
    assert counts["unknown"] == 0 and counts["sending"] == 0 and counts["sent"] == 0
    assert counts["pending"] + counts["deferred"] == 5


def test_silence_after_the_message_was_sent_leaves_it_unknown_and_not_resent(
    ledger: Ledger, tmp_path: Path
) -> None:
    handler = SmtpHandler(hang={addr(3)}, hang_seconds=1.5)
    listing = subscribers.read(write_list(tmp_path, 5))
    with smtp_server(handler) as port:
        first = deliver(ledger, make_provider(port, timeout=0.4), listing)
        assert (first.sent, first.unknown) == (4, 1)
        (unknown,) = ledger.deliveries(ISSUE, ("unknown",))
        assert unknown.address == addr(3)
        again = deliver(ledger, make_provider(port, timeout=0.4), listing)
        assert again.sent == 0 and ledger.counts(ISSUE)["unknown"] == 1
        handler.hang.clear()
        forced = deliver(ledger, make_provider(port), listing, resend_unknown=True)
    assert forced.sent == 1
    assert numbered(handler.received()) == [1, 2, 3, 4, 5]


def test_a_pool_of_connections_is_reused_and_renewed(
    ledger: Ledger, hundred: subscribers.SubscriberList
) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        summary = deliver(
            ledger, make_provider(port, concurrency=4, max_per_connection=10), hundred
        )
    assert summary.sent == 100 and numbered(handler.received()) == list(range(1, 101))
    assert 10 <= handler.connections <= 14  # 100 / 10 per connection, plus the probe


def test_the_rate_limit_holds(ledger: Ledger, tmp_path: Path) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        started = time.monotonic()
        deliver(
            ledger,
            make_provider(port, concurrency=4, rate=40.0),
            subscribers.read(write_list(tmp_path, 20)),
        )
        elapsed = time.monotonic() - started
    assert len(handler.messages) == 20 and elapsed >= 19 / 40


def test_rate_limiter_holds_over_any_window() -> None:
    now = [0.0]
    times: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(8, clock=lambda: now[0], sleep=sleep)  # 1/8 s: exact in binary
    for _ in range(50):
        limiter.wait()
        times.append(now[0])
    for window in (0.5, 1.0, 3.0):
        for start in times:
            assert sum(1 for t in times if start <= t < start + window) <= 8 * window


def dkim_key() -> tuple[bytes, bytes]:
    """A new RSA key as PEM, and the DNS TXT record that publishes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_covers_the_list_headers_and_verifies(tmp_path: Path) -> None:
    private, record = dkim_key()
    listing = subscribers.read(write_list(tmp_path, 1))
    message = SimpleComposer().compose(listing.subscribers[0])
    signed = Signer("news", "example.org", private).sign(message.data)
    signature = signed.split(b"\r\nFrom:", 1)[0]
    assert signature.startswith(b"DKIM-Signature:")
    tags = b"".join(signature.split()).lower()
    signed_headers = set(tags.split(b";h=", 1)[1].split(b";", 1)[0].split(b":"))
    assert {b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"} <= signed_headers
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    tampered = signed.replace(b"tok-r001", b"tok-evil")
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)


def test_provider_receipts_for_a_batch_of_prepared_messages() -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        provider = make_provider(port)
        data = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\n"
        receipts = provider.send([Message("b@example.org", "<x@example.org>", data)])
        provider.close()
    assert receipts[0].status == "sent" and "queued as" in receipts[0].provider_id
    assert b"\r\n.leading dot" in handler.messages[0][1]  # dot-stuffing undone by the server


def test_dkim_signs_the_final_bytes_the_server_receives(ledger: Ledger, tmp_path: Path) -> None:
    private, record = dkim_key()
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        provider = make_provider(port)
        provider.signer = Signer("news", "example.org", private)
        deliver(ledger, provider, subscribers.read(write_list(tmp_path, 2)))
    assert len(handler.messages) == 2
    for _, data in handler.messages:
        assert data.startswith(b"DKIM-Signature:")
        assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)


def test_the_daily_cap_counts_across_runs(ledger: Ledger, tmp_path: Path) -> None:
    from innovate_news.delivery.plan import Options, plan
    from innovate_news.delivery.sender import Sender

    handler = SmtpHandler()
    listing = subscribers.read(write_list(tmp_path, 5))
    with smtp_server(handler) as port:
        for expected in (3, 0):
            composer = SimpleComposer()
            provider = make_provider(port)
            with ledger.lock(ISSUE):
                the_plan = plan(ledger, ISSUE, "s", listing, composer, Options("smtp"))
                summary = Sender(ledger, provider, composer, daily_cap=3).run(the_plan)
            provider.close()
            assert summary.sent == expected and "daily cap of 3" in summary.stopped
    assert len(handler.messages) == 3 and ledger.counts(ISSUE)["pending"] == 2
