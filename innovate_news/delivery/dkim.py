"""DKIM signing of finished messages (dkimpy), for SMTP relays that do not sign themselves."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import dkim

from innovate_news.errors import SettingsError

# Signed when present. The list headers are here so that no relay can swap the unsubscribe
# link; a header named twice in `h=` also stops one being added after signing (RFC 6376 5.4).
SIGNED = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To", b"MIME-Version",
    b"Content-Type", b"List-Id", b"List-Unsubscribe", b"List-Unsubscribe-Post",
)  # fmt: skip


@dataclass(frozen=True)
class Signer:
    """Signs with one key; `sign` returns the message with its DKIM-Signature header first."""

    selector: str
    domain: str
    key: bytes = field(repr=False)

    def __call__(self, message: bytes) -> bytes:
        return self.sign(message)

    def sign(self, message: bytes) -> bytes:
        present = {line.split(b":", 1)[0].strip().lower() for line in _header_lines(message)}
        include = [h for h in SIGNED if h.lower() in present]
        # Oversigning From and the list headers: adding a second copy later breaks the signature.
        include += [
            h for h in (b"From", b"List-Unsubscribe", b"List-Unsubscribe-Post") if h in include
        ]
        header = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
        return bytes(header) + message


def load(selector: str, domain: str, key_file: Path) -> Signer:
    """A Signer from settings; the key file must be a PEM private key."""
    try:
        key = key_file.read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"cannot read [providers.smtp] dkim_key_file {key_file}: {exc.strerror}"
        ) from exc
    if b"PRIVATE KEY" not in key:
        raise SettingsError(f"{key_file} is not a PEM private key (dkim_key_file)")
    signer = Signer(selector, domain, key)
    try:
        signer.sign(b"From: a@example.org\r\nSubject: probe\r\n\r\nprobe\r\n")
    except dkim.DKIMException as exc:
        raise SettingsError(f"{key_file}: the DKIM key does not sign: {exc}") from exc
    return signer


def public_key_problem(key_file: Path, published: str) -> str | None:
    """Why the base64 `p=` of a DKIM record is not the public half of the private key in
    `key_file` (or is too short for Gmail and Yahoo); None when it is and is long enough."""
    from dkim.asn1 import ASN1FormatError
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key, parse_public_key

    try:
        key = key_file.read_bytes()
    except OSError as exc:
        return f"cannot read dkim_key_file {key_file}: {exc.strerror}"
    try:
        private = parse_pem_private_key(key)
    except (UnparsableKeyError, ASN1FormatError, ValueError):
        return f"{key_file} is not an RSA private key in PEM form"
    try:
        public = parse_public_key(base64.b64decode(published, validate=True))
    except (UnparsableKeyError, ASN1FormatError, ValueError):
        return "its p= is not an RSA public key"
    numbers = ("modulus", "publicExponent")
    if [public[n] for n in numbers] != [private[n] for n in numbers]:
        return f"its p= is not the public half of {key_file}: receivers fail every signature"
    if (bits := int(public["modulus"]).bit_length()) < 1024:
        return f"the key has {bits} bits; Gmail and Yahoo need at least 1024 (2048 is usual)"
    return None


def _header_lines(message: bytes) -> list[bytes]:
    head = message.split(b"\r\n\r\n", 1)[0]
    return [line for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]
