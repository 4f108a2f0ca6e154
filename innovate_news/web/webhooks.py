"""Bounce and complaint webhooks of Postmark, Mailgun and SendGrid: verified first, then read.

Each provider signs its own way: Postmark sends HTTP basic auth credentials set in its webhook
URL, Mailgun an HMAC-SHA256 of timestamp and token with the webhook signing key, SendGrid an
ECDSA P-256 signature over timestamp and body (the "signed event webhook"). Nothing in a
request is acted on before its signature checks out. cryptography is used here only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from innovate_news.errors import RefusedError

PROVIDERS = ("postmark", "mailgun", "sendgrid")
VARIABLES = {
    "postmark": "INNOVATE_NEWS_POSTMARK_WEBHOOK_PASSWORD",
    "mailgun": "INNOVATE_NEWS_MAILGUN_WEBHOOK_KEY",
    "sendgrid": "INNOVATE_NEWS_SENDGRID_WEBHOOK_PUBLIC_KEY",
}
MAX_AGE = dt.timedelta(hours=1)  # a signed request older than this is a replay, not a retry
SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
_POSTMARK_TYPES = {
    "HardBounce": "bounced",
    "BadEmailAddress": "bounced",
    "SpamComplaint": "complained",
    "SpamNotification": "complained",
    "Unsubscribe": "unsubscribed",
}
_POSTMARK_SUPPRESSIONS = {
    "HardBounce": "bounced",
    "SpamComplaint": "complained",
    "ManualSuppression": "unsubscribed",
}
_SENDGRID_EVENTS = {
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


@dataclass(frozen=True)
class Event:
    """An address the provider says must not be mailed again, and why."""

    address: str
    reason: str  # a ledger suppression reason: bounced, complained, unsubscribed


Headers = Mapping[str, str]  # names in lower case


def verify(
    provider: str,
    headers: Headers,
    body: bytes,
    secret: str,
    now: dt.datetime,
    postmark_user: str = "postmark",
) -> None:
    """Return if the request really comes from `provider`; RefusedError otherwise."""
    if not secret:
        raise RefusedError(
            f"the {provider} webhook is not set up here (no {VARIABLES[provider]})", 404
        )
    if provider == "postmark":
        _postmark(headers, secret, postmark_user)
    elif provider == "mailgun":
        _mailgun(body, secret, now)
    else:
        _sendgrid(headers, body, secret, now)


def events(provider: str, body: bytes) -> list[Event]:
    """The suppressions a verified request asks for (other event kinds are ignored)."""
    data = _json(body)
    reader: Callable[[Any], Iterator[Event]] = {
        "postmark": _postmark_events,
        "mailgun": _mailgun_events,
        "sendgrid": _sendgrid_events,
    }[provider]
    return [e for e in reader(data) if e.address]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefusedError("the body is not JSON", 400) from exc


def _postmark(headers: Headers, password: str, user: str) -> None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    expected = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    if scheme.lower() != "basic" or not hmac.compare_digest(value.strip(), expected):
        raise RefusedError("wrong or missing webhook credentials", 401)


def _fresh(timestamp: str, now: dt.datetime) -> None:
    try:
        when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise RefusedError("the signature's timestamp is not a number", 403) from exc
    if abs(now - when) > MAX_AGE:
        raise RefusedError("the signature's timestamp is too old or in the future", 403)


def _mailgun(body: bytes, key: str, now: dt.datetime) -> None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise RefusedError("the request carries no Mailgun signature", 403)
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    mac = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, str(signature.get("signature", ""))):
        raise RefusedError("the Mailgun signature does not match", 403)
    _fresh(timestamp, now)


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: base64 DER as its dashboard shows it, or PEM."""
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text.strip()))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise RefusedError(f"{VARIABLES['sendgrid']} is not a public key", 500) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise RefusedError(f"{VARIABLES['sendgrid']} is not an ECDSA P-256 public key", 500)
    return key


def _sendgrid(headers: Headers, body: bytes, key_text: str, now: dt.datetime) -> None:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE, ""), headers.get(SENDGRID_TIMESTAMP, "")
    if not signature or not timestamp:
        raise RefusedError("the request carries no SendGrid signature", 403)
    try:
        public_key(key_text).verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise RefusedError("the SendGrid signature does not match", 403) from exc
    _fresh(timestamp, now)


def _postmark_events(data: Any) -> Iterator[Event]:
    if not isinstance(data, dict):
        return
    record = data.get("RecordType", "Bounce")
    if record == "Bounce" and data.get("Type") in _POSTMARK_TYPES:
        yield Event(str(data.get("Email", "")), _POSTMARK_TYPES[data["Type"]])
    elif record == "SpamComplaint":
        yield Event(str(data.get("Email", "")), "complained")
    elif record == "SubscriptionChange" and data.get("SuppressSending") is True:
        reason = _POSTMARK_SUPPRESSIONS.get(str(data.get("SuppressionReason")))
        if reason:
            yield Event(str(data.get("Recipient", "")), reason)


def _mailgun_events(data: Any) -> Iterator[Event]:
    event = data.get("event-data") if isinstance(data, dict) else None
    if not isinstance(event, dict):
        return
    kind, recipient = event.get("event"), str(event.get("recipient", ""))
    if kind == "failed" and event.get("severity") == "permanent":
        yield Event(recipient, "bounced")
    elif kind == "complained":
        yield Event(recipient, "complained")
    elif kind == "unsubscribed":
        yield Event(recipient, "unsubscribed")


def _sendgrid_events(data: Any) -> Iterator[Event]:
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        kind, address = item.get("event"), str(item.get("email", ""))
        # "blocked" is SendGrid's soft bounce: the address may well work tomorrow.
        if kind == "bounce" and item.get("type", "bounce") == "bounce":
            yield Event(address, "bounced")
        elif kind in _SENDGRID_EVENTS:
            yield Event(address, _SENDGRID_EVENTS[str(kind)])
