"""Bounce and complaint webhooks of Postmark, Mailgun and SendGrid: verified first, then read.

Each provider signs its own way: Postmark sends HTTP basic auth credentials set in its webhook
URL, Mailgun an HMAC-SHA256 of timestamp and token with the webhook signing key, SendGrid an
ECDSA P-256 signature over timestamp and body (the "signed event webhook"). Nothing in a
request is acted on before its signature checks out. A signature with a timestamp is good for
MAX_AGE, so the ledger keeps what made it unique that long and refuses it a second time
(Mailgun's covers only timestamp and token: a replayed token could carry any body).
cryptography is used here only.
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

from innovate_news.audience.subscribers import check_address, normalise
from innovate_news.delivery.providers.postmark import suppression_reason
from innovate_news.errors import RefusedError
from innovate_news.store.reports import Dropped, Report, Reports, Token

PROVIDERS = ("postmark", "mailgun", "sendgrid")
VARIABLES = {
    "postmark": "INNOVATE_NEWS_POSTMARK_WEBHOOK_PASSWORD",
    "mailgun": "INNOVATE_NEWS_MAILGUN_WEBHOOK_KEY",
    "sendgrid": "INNOVATE_NEWS_SENDGRID_WEBHOOK_PUBLIC_KEY",
}
MAX_AGE = dt.timedelta(hours=1)  # a signed request older than this is a replay, not a retry
REPLAY = 409  # the answer to a signed request seen before
SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
# Bounce types that deactivate the address. Not SpamNotification: a receiving filter refused
# the content, which "does not deactivate the address" (Postmark's bounce types).
_POSTMARK_TYPES = {
    "HardBounce": "bounced",
    "BadEmailAddress": "bounced",
    "SpamComplaint": "complained",
    "Unsubscribe": "unsubscribed",
}
_MAILGUN_SUPPRESSED = {  # why Mailgun dropped a message to an address on its own lists
    "suppress-bounce": "bounced",
    "suppress-unsubscribe": "unsubscribed",
    "suppress-complaint": "complained",
}
_SENDGRID_DROPPED = {  # "dropped" reasons that are about the address (others are not)
    "bounced address": "bounced",
    "invalid": "bounced",  # not an address that can receive mail
    "unsubscribed address": "unsubscribed",
    "spam reporting address": "complained",
}
_SENDGRID_EVENTS = {
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


@dataclass(frozen=True)
class Event:
    """What a provider reported about one address."""

    address: str
    reason: str = ""  # never mail it again, and why: bounced, complained, unsubscribed, manual
    lift: bool = False  # the provider reactivated it (Postmark's SubscriptionChange)
    dropped: str = ""  # the provider dropped a copy it had accepted, and why (SendGrid)
    message_id: str = ""  # the provider's id of that copy


Headers = Mapping[str, str]  # names in lower case


def receive(
    ledger: Reports,
    provider: str,
    headers: Headers,
    body: bytes,
    secret: str,
    now: dt.datetime,
    postmark_user: str = "postmark",
) -> tuple[int, int]:
    """Verify a provider's request and apply its events to the ledger, all or nothing, once;
    (events read, new suppressions). RefusedError: not genuine, not JSON, or a replay (409)."""
    token = verify(provider, headers, body, secret, now, postmark_user)
    found = events(provider, body)
    added = ledger.apply_report(report(provider, found), token, now)
    if added is None:
        raise RefusedError(
            "this signed request was received before; it is not applied twice", REPLAY
        )
    return len(found), added


def report(provider: str, found: list[Event]) -> Report:
    """The ledger's changes for `found` (an address that is not one is passed over)."""
    usable = [(e, normalise(e.address)) for e in found if check_address(e.address) is None]
    return Report(
        provider,
        suppress=[(address, e.reason) for e, address in usable if e.reason],
        lift=[address for e, address in usable if e.lift],
        dropped=[
            Dropped(address, e.message_id, "failed" if e.reason else "deferred",
                    f"{provider} dropped it: {e.dropped}")
            for e, address in usable if e.dropped and e.message_id
        ],
    )  # fmt: skip


def verify(
    provider: str,
    headers: Headers,
    body: bytes,
    secret: str,
    now: dt.datetime,
    postmark_user: str = "postmark",
) -> Token | None:
    """Return if the request really comes from `provider` (with what makes a timestamped
    signature unique, and until when it is good); RefusedError otherwise."""
    if not secret:
        raise RefusedError(
            f"the {provider} webhook is not set up here (no {VARIABLES[provider]})", 404
        )
    if provider == "postmark":
        _postmark(headers, secret, postmark_user)
        return None  # no timestamp to bound a replay by: the credentials are all there is
    if provider == "mailgun":
        return _mailgun(body, secret, now)
    return _sendgrid(headers, body, secret, now)


def events(provider: str, body: bytes) -> list[Event]:
    """What a verified request reports (event kinds that change nothing here are left out)."""
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
    # A non-ASCII value is never base64 (and compare_digest raises on one): refused alike.
    if (
        scheme.lower() != "basic"
        or not value.isascii()
        or not hmac.compare_digest(value.strip(), expected)
    ):
        raise RefusedError("wrong or missing webhook credentials", 401)


def _fresh(timestamp: str, now: dt.datetime) -> dt.datetime:
    """Refuse a signature whose time is not within MAX_AGE of now; until when it is good."""
    try:
        when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise RefusedError("the signature's timestamp is not a number", 403) from exc
    if abs(now - when) > MAX_AGE:
        raise RefusedError("the signature's timestamp is too old or in the future", 403)
    return when + MAX_AGE


def _mailgun(body: bytes, key: str, now: dt.datetime) -> Token:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise RefusedError("the request carries no Mailgun signature", 403)
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    if not (timestamp + token + str(signature.get("signature", ""))).isascii():
        raise RefusedError("the Mailgun signature is malformed (not ASCII)", 400)
    mac = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, str(signature.get("signature", ""))):
        raise RefusedError("the Mailgun signature does not match", 403)
    # The token is Mailgun's one-time value; the timestamp is under the MAC with it.
    return Token(f"{timestamp}:{token}", _fresh(timestamp, now))


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


def _sendgrid(headers: Headers, body: bytes, key_text: str, now: dt.datetime) -> Token:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE, ""), headers.get(SENDGRID_TIMESTAMP, "")
    if not signature or not timestamp:
        raise RefusedError("the request carries no SendGrid signature", 403)
    try:
        public_key(key_text).verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise RefusedError("the SendGrid signature does not match", 403) from exc
    until = _fresh(timestamp, now)
    # What was signed, not the signature: an ECDSA signature can be rewritten into another
    # valid one for the same bytes, so a replay is known by its content.
    return Token(hashlib.sha256(timestamp.encode() + b"\n" + body).hexdigest(), until)


def _postmark_events(data: Any) -> Iterator[Event]:
    if not isinstance(data, dict):
        return
    record = data.get("RecordType", "Bounce")
    if record == "Bounce" and data.get("Type") in _POSTMARK_TYPES:
        yield Event(str(data.get("Email", "")), _POSTMARK_TYPES[data["Type"]])
    elif record == "SpamComplaint":
        yield Event(str(data.get("Email", "")), "complained")
    elif record == "SubscriptionChange":
        yield _subscription_change(data)


def _subscription_change(data: dict[str, Any]) -> Event:
    """An address added to (or removed from) a stream's suppression list, in Postmark or
    through its own unsubscribe link: the ledger follows, but a reactivation lifts only what
    Postmark suppressed, and never an unsubscribe or complaint (see store.reports)."""
    recipient = str(data.get("Recipient", ""))
    if data.get("SuppressSending") is False:
        return Event(recipient, lift=True)
    reason = suppression_reason(data.get("SuppressionReason"), data.get("Origin"))
    return Event(recipient, reason or "manual")  # Postmark will not send to it, whatever why


def _mailgun_events(data: Any) -> Iterator[Event]:
    event = data.get("event-data") if isinstance(data, dict) else None
    if not isinstance(event, dict):
        return
    kind, recipient = event.get("event"), str(event.get("recipient", ""))
    if kind == "failed" and event.get("severity") == "permanent":
        # Mailgun drops a message to an address on its lists as a permanent failure whose
        # reason says which list; any other permanent failure is a bounce.
        yield Event(recipient, _MAILGUN_SUPPRESSED.get(str(event.get("reason")), "bounced"))
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
        elif kind == "dropped":
            why = str(item.get("reason", "")) or "no reason given"
            reason = _SENDGRID_DROPPED.get(why.strip().lower(), "")
            yield Event(address, reason, dropped=why, message_id=str(item.get("sg_message_id", "")))
        elif kind in _SENDGRID_EVENTS:
            yield Event(address, _SENDGRID_EVENTS[str(kind)])
