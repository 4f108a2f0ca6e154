"""MIME bytes made once per variant: constant chunks with slots that each recipient fills.

Bodies are quoted-printable (lines of at most 76 octets, so never over RFC 5322's 998 whatever
mjml-python emits). Every slot starts on a fresh encoded line and ends with a soft line break,
so a recipient's value is encoded on its own and dropped in without touching its neighbours.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
QP_LINE = 76  # RFC 2045's limit for an encoded line, soft-break "=" included
# Characters that force a display name into a quoted string (as email.headerregistry does).
_SPECIALS = frozenset('()<>@,:;."[]\\')
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER_BREAK = re.compile(r"[\r\n\x00]")
_ADDRESS = re.compile(r"^[!#-'*+\-/-9=?A-Z^-~]+(\.[!#-'*+\-/-9=?A-Z^-~]+)*@[A-Za-z0-9.-]+$")


@dataclass(frozen=True)
class Template:
    """A message as constant byte chunks with named slots between them."""

    parts: tuple[bytes, ...]  # constants, with b"" where a slot goes
    slots: tuple[tuple[int, str], ...]  # (index into parts, slot name)

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        parts = list(self.parts)
        for index, name in self.slots:
            parts[index] = values[name]
        return b"".join(parts)

    def __add__(self, other: Template) -> Template:
        offset = len(self.parts)
        return Template(
            self.parts + other.parts,
            self.slots + tuple((index + offset, name) for index, name in other.slots),
        )

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.slots)


class Builder:
    """Collects constants (merged) and slots into a Template."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [b""]
        self.slots: list[tuple[int, str]] = []

    def const(self, data: bytes) -> None:
        self.parts[-1] += data

    def slot(self, name: str) -> None:
        self.slots.append((len(self.parts), name))
        self.parts += [b"", b""]

    def template(self) -> Template:
        return Template(tuple(self.parts), tuple(self.slots))


def header_block(items: Sequence[tuple[str, str]]) -> bytes:
    """Constant headers folded and (RFC 2047) encoded by the standard library, in this order."""
    message = EmailMessage(policy=policy.SMTP)
    for name, value in items:
        message[name] = value
    return b"".join(policy.SMTP.fold_binary(name, value) for name, value in message.items())


def qp_text(builder: Builder, text: str, placeholders: Mapping[str, str], prefix: str) -> None:
    """Quoted-printable `text` (LF line ends) with each placeholder turned into a slot."""
    pattern = re.compile("|".join(re.escape(token) for token in placeholders))
    position = 0
    for match in pattern.finditer(text):
        builder.const(_qp_segment(text[position : match.start()], before_slot=True))
        builder.slot(prefix + placeholders[match.group()])
        position = match.end()
    builder.const(_qp_segment(text[position:], before_slot=False))


def _qp_segment(segment: str, before_slot: bool) -> bytes:
    encoded = binascii.b2a_qp(segment.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    if before_slot and encoded and not encoded.endswith(CRLF):
        encoded = _end_softly(encoded)
    return encoded


def _end_softly(encoded: bytes) -> bytes:
    """Append a soft line break, first splitting the last line if the "=" would not fit."""
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) >= QP_LINE:
        cut = QP_LINE - 1
        if last[cut - 1 : cut] == b"=":
            cut -= 1
        elif last[cut - 2 : cut - 1] == b"=":
            cut -= 2
        last = last[:cut] + SOFT_BREAK + last[cut:]
    return encoded[:start] + last + SOFT_BREAK


def qp_value(value: str) -> bytes:
    """One recipient's value for a body slot: encoded lines ending in a soft break."""
    encoded = binascii.b2a_qp(value.encode("utf-8"))
    if len(encoded) < QP_LINE and b"\n" not in encoded:
        return encoded + SOFT_BREAK  # the common case: a short value on one line
    return _end_softly(encoded.replace(b"=\n", SOFT_BREAK))


def format_address(name: str, address: str) -> str:
    """A To: value as headerregistry.Address would print it, folded to fit RFC 5322."""
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        phrase = name
        if not _SPECIALS.isdisjoint(name):
            phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(phrase) + len(address) < 900:
            return f"{phrase} <{address}>"
    return f"{encoded_words(name)} <{address}>"


def encoded_words(text: str) -> str:
    """RFC 2047 base64 words of at most 75 characters, each on its own folded line."""
    data = text.encode("utf-8")
    if len(data) <= 45:
        return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="
    words = []
    chunk = ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    )


def header_problem(value: str) -> str | None:
    """Why a value cannot go into a header (a line break would start a header of its own)."""
    if _HEADER_BREAK.search(value):
        return "contains a line break (CR or LF) or NUL"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def address_problem(address: str) -> str | None:
    """Why an address cannot be written into To: as it is (quoted or non-ASCII local parts)."""
    if problem := header_problem(address):
        return problem
    if not _ADDRESS.match(address):
        return "is not a plain ASCII address like name@example.org"
    return None
