"""Signed link tokens: round trips, tampering, expiry, key rotation and where keys come from."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from innovate_news.audience import tokens
from innovate_news.audience.tokens import Keyring
from innovate_news.errors import SettingsError, TokenError
from innovate_news.settings import Settings
from tests.support import NOW

SECRET = "correct-horse-battery-staple-0123"


def test_round_trip_returns_the_fields() -> None:
    ring = Keyring.parse(SECRET)
    token = ring.sign("unsubscribe", "news.example.org", "amelia@example.org")
    assert ring.verify("unsubscribe", token, NOW) == ("news.example.org", "amelia@example.org")
    assert all(c.isalnum() or c in "-_." for c in token)  # safe in a URL as it is


def test_every_changed_character_is_refused() -> None:
    ring = Keyring.parse(SECRET)
    token = ring.sign("unsubscribe", "news.example.org", "amelia@example.org")
    kid, payload, mac = token.split(".")
    forged = Keyring.parse("another-secret-of-enough-length").sign(
        "unsubscribe", "news.example.org", "mallory@example.org"
    )
    bad = [
        f"{kid}.{payload}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"{kid}.{payload[:-2]}xx.{mac}",
        f"{kid}.{forged.split('.')[1]}.{mac}",  # someone else's address under this MAC
        f"{kid}.{payload}",
        "",
        forged,
    ]
    for token_ in bad:
        with pytest.raises(TokenError):
            ring.verify("unsubscribe", token_, NOW)


def test_a_token_for_one_purpose_is_useless_for_another() -> None:
    ring = Keyring.parse(SECRET)
    token = ring.sign("preferences", "news.example.org", "amelia@example.org")
    with pytest.raises(TokenError, match="not for this purpose"):
        ring.verify("unsubscribe", token, NOW)


def test_expiry() -> None:
    ring = Keyring.parse(SECRET)
    token = ring.sign("confirm", "amelia@example.org", expires=NOW + dt.timedelta(days=7))
    assert ring.verify("confirm", token, NOW + dt.timedelta(days=6)) == ("amelia@example.org",)
    with pytest.raises(TokenError, match="expired"):
        ring.verify("confirm", token, NOW + dt.timedelta(days=8))


def test_rotation_old_key_still_verifies_new_key_signs() -> None:
    old = Keyring.parse(f"2023a:{SECRET}")
    issued = old.sign("unsubscribe", "news.example.org", "ben@example.com")
    rotated = Keyring.parse(f"2024b:a-brand-new-secret-value-9876,2023a:{SECRET}")
    assert rotated.verify("unsubscribe", issued, NOW) == ("news.example.org", "ben@example.com")
    assert rotated.sign("unsubscribe", "x").startswith("2024b.")
    retired = Keyring.parse("2024b:a-brand-new-secret-value-9876")
    with pytest.raises(TokenError, match="no longer accepted"):
        retired.verify("unsubscribe", issued, NOW)


def test_a_plain_secret_gets_a_stable_key_id() -> None:
    first = Keyring.parse(SECRET).sign("unsubscribe", "a")
    second = Keyring.parse(SECRET).sign("unsubscribe", "a")
    assert first == second
    assert SECRET not in first and SECRET not in repr(Keyring.parse(SECRET))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("short", "shorter than 16"),
        ("a:long-enough-secret-value,a:another-long-secret-value", "appears twice"),
        ("ok:long-enough-secret-value,bad id:long-enough-secret-value", "kid:secret"),
    ],
)
def test_bad_keys_are_refused(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Keyring.parse(value)


def test_keyring_from_the_environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.ENV, SECRET)
    ring = tokens.keyring(settings, allow_generated=False)
    assert ring.generated is None and ring.notice is None
    assert Keyring.parse(SECRET).verify("u", ring.sign("u", "x"), NOW) == ("x",)


def test_real_providers_refuse_without_a_secret(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tokens.ENV, raising=False)
    with pytest.raises(SettingsError, match="INNOVATE_NEWS_SECRET is not set"):
        tokens.keyring(settings, allow_generated=False)
    assert not (settings.folder("state") / tokens.GENERATED_FILE).exists()


def test_outbox_generates_a_private_secret_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tokens.ENV, raising=False)
    first = tokens.keyring(settings, allow_generated=True)
    path = settings.folder("state") / tokens.GENERATED_FILE
    assert first.generated == path and first.notice is not None and str(path) in first.notice
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = tokens.keyring(settings, allow_generated=True)
    token = first.sign("unsubscribe", "news.example.org", "a@example.org")
    assert second.verify("unsubscribe", token, NOW) == ("news.example.org", "a@example.org")
    secret = path.read_text(encoding="utf-8").strip()
    assert secret not in token and secret not in first.notice
