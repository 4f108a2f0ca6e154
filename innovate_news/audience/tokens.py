"""Signed link tokens (unsubscribe, preferences): HMAC-SHA256, with key ids so keys can rotate."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innovate_news.errors import SettingsError, TokenError
from innovate_news.output import private_folder
from innovate_news.settings import Settings

ENV = "INNOVATE_NEWS_SECRET"
MIN_SECRET_LENGTH = 16
GENERATED_FILE = "secret"
GENERATED_KID = "local"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_HOW = (
    "set it to a long random value, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Keyring:
    """Signing keys by id: the first one signs, every one verifies (so keys can rotate).

    A token is `kid.payload.mac`: the payload carries the expiry and the fields, the MAC covers
    the purpose, the key id and the payload, so a token for one purpose is useless for another.
    """

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)
    generated: Path | None = None  # the state-folder file the secret came from, if not the env
    _macs: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise SettingsError(f"{ENV} holds no key; {_HOW}")
        # A keyed HMAC object per key id, copied per token: saves re-keying on the hot path.
        macs = {kid: hmac.new(secret, digestmod=hashlib.sha256) for kid, secret in self.keys}
        object.__setattr__(self, "_macs", macs)

    @classmethod
    def parse(cls, value: str, generated: Path | None = None) -> Keyring:
        """`secret`, or `kid1:secret1,kid2:secret2` (the first signs); raises SettingsError."""
        value = value.strip()
        parts = [p.strip() for p in value.split(",")]
        named = [p.partition(":") for p in parts]
        if len(parts) > 1 or (named[0][1] and _KID.match(named[0][0])):
            keys = []
            for kid, colon, secret in named:
                if not colon or not _KID.match(kid):
                    raise SettingsError(
                        f"{ENV}: each key must look like kid:secret, the kid made of "
                        "letters, digits, - and _ (for example 2024a:...,2023b:...)"
                    )
                keys.append((kid, _secret(secret)))
            if len({kid for kid, _ in keys}) != len(keys):
                raise SettingsError(f"{ENV}: a key id appears twice; give each key its own id")
            return cls(tuple(keys), generated)
        key = _secret(value)
        kid = "k" + hashlib.sha256(b"innovate-news key id\x00" + key).hexdigest()[:8]
        return cls(((kid, key),), generated)

    @classmethod
    def random(cls) -> Keyring:
        """A throwaway key: for measuring messages (`check`), never for links people click."""
        return cls((("check", secrets.token_bytes(32)),))

    @property
    def notice(self) -> str | None:
        """What to tell the user when links are signed with a generated, local secret."""
        if self.generated is None:
            return None
        return (
            f"{ENV} is not set: signing links with the secret generated in {self.generated}; "
            "set the variable before sending for real"
        )

    def sign(self, purpose: str, *fields: str, expires: dt.datetime | None = None) -> str:
        """A URL-safe token carrying `fields`, valid for `purpose` until `expires` (if given)."""
        if any("\x00" in f for f in fields):
            raise ValueError("token fields must not contain NUL")
        expiry = "" if expires is None else str(int(expires.timestamp()))
        payload = _b64("\x00".join((expiry, *fields)).encode("utf-8"))
        kid = self.keys[0][0]
        return f"{kid}.{payload}.{self._mac(kid, purpose, payload)}"

    def verify(self, purpose: str, token: str, now: dt.datetime) -> tuple[str, ...]:
        """The fields of a genuine, unexpired token for `purpose`; TokenError otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("the link is incomplete or malformed; copy the whole link")
        kid, payload, mac = parts
        if kid not in self._macs:
            raise TokenError("the link was signed with a key that is no longer accepted")
        if not hmac.compare_digest(mac, self._mac(kid, purpose, payload)):
            raise TokenError("the link has been altered or is not for this purpose")
        try:
            expiry, *fields = _unb64(payload).decode("utf-8").split("\x00")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise TokenError("the link's payload is damaged") from exc
        if expiry and int(expiry) < now.timestamp():
            raise TokenError("the link has expired; ask for a new one")
        return tuple(fields)

    def _mac(self, kid: str, purpose: str, payload: str) -> str:
        mac = self._macs[kid].copy()
        mac.update(f"{purpose}\x00{kid}\x00{payload}".encode())
        return _b64(mac.digest())


def _secret(text: str) -> bytes:
    if len(text) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"{ENV}: a key is shorter than {MIN_SECRET_LENGTH} characters, too easy to guess; "
            + _HOW
        )
    return text.encode("utf-8")


def keyring(settings: Settings, allow_generated: bool) -> Keyring:
    """Keys from INNOVATE_NEWS_SECRET; else (outbox, previews) a secret generated once locally."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return Keyring.parse(value)
    if not allow_generated:
        raise SettingsError(
            f"{ENV} is not set: unsubscribe links must be signed with a secret that outlives "
            f"this machine before real mail goes out; {_HOW}"
        )
    path = settings.folder("state") / GENERATED_FILE
    if not path.exists():
        _generate(path)
    secret = path.read_text(encoding="utf-8").strip()
    return Keyring(((GENERATED_KID, _secret(secret)),), generated=path)


def _generate(path: Path) -> None:
    """Write a new secret, readable by its owner only; if another process won, keep theirs."""
    private_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # atomic and refuses to replace: the first secret ever made stays
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
