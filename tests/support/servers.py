"""Real servers on loopback for the sending tests: SMTP (aiosmtpd) and the providers' HTTP APIs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import itertools
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "news@example.org", "s3cret-smtp-Passw0rd"
POSTMARK_TOKEN = "pm-token-0123456789abcdef"
MAILGUN_KEY = "key-mailgun-0123456789abcdef"
SENDGRID_KEY = "SG.sendgrid-0123456789abcdef"


def free_port() -> int:
    """A loopback port nobody listens on (aiosmtpd's Controller cannot be given port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# SMTP -------------------------------------------------------------------------------------

# Decides the reply to one stage ("rcpt" or "data") for one recipient on its nth try there;
# None means the normal reply.
Script = Callable[[str, str, int], str | None]


@dataclass
class SmtpHandler:
    """Accepts mail and remembers it; can be told to refuse, drop, hang or go down."""

    script: Script | None = None
    drop_after: int | None = None  # accept this many messages, then drop every connection
    hang: set[str] = field(default_factory=set)  # DATA never answers for these recipients
    hang_seconds: float = 3.0
    keep: bool = True
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    accepted: int = 0
    connections: int = 0
    down: bool = False
    tries: Counter[tuple[str, str]] = field(default_factory=Counter)
    auth_logins: list[str] = field(default_factory=list)
    # A relay's limits. After `per_connection` messages on one connection, MAIL (or RCPT, per
    # `limit_stage`) is answered `limit_reply`; the connection stays open unless it is a 421.
    per_connection: int | None = None
    limit_reply: str = "452 4.5.3 Too many messages in this connection"
    limit_stage: str = "mail"
    # After `quota_after` messages accepted in all, `quota_stage` ("ehlo", "auth", "mail",
    # "rcpt" or "message", the reply after the final dot) is answered `quota_reply`.
    quota_after: int | None = None
    quota_reply: str = "454 Throttling failure: Daily message quota exceeded"
    quota_stage: str = "message"
    refused: int = 0  # replies given for the two limits above
    # Decides the reply to the nth MAIL command of the whole run (1, 2, ...); None: normal.
    mail_script: Callable[[int], str | None] | None = None
    mails: int = 0

    def received(self) -> Counter[str]:
        return Counter(address for address, _ in self.messages)

    def _limited(self, server: Any, session: Any, stage: str) -> str | None:
        """The relay-limit reply due at `stage` on this connection, if any."""
        reply = None
        carried = getattr(session, "carried", 0)
        if self.quota_after is not None and self.accepted >= self.quota_after:
            reply = self.quota_reply if stage == self.quota_stage else None
        elif self.per_connection is not None and carried >= self.per_connection:
            reply = self.limit_reply if stage == self.limit_stage else None
        if reply is None:
            return None
        self.refused += 1
        if reply.startswith("421"):
            server.loop.call_soon(server.transport.close)
        return reply

    def _scripted(self, stage: str, address: str) -> str | None:
        self.tries[stage, address] += 1
        if self.script is None:
            return None
        return self.script(stage, address, self.tries[stage, address])

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        if self.down:
            server.transport.abort()
        session.host_name = hostname
        limited = self._limited(server, session, "ehlo")
        return [limited] if limited else responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.down:
            server.transport.abort()
            return "421 4.3.2 gone"
        limited = self._limited(server, session, "mail")
        if limited:
            return limited
        self.mails += 1
        scripted = self.mail_script(self.mails) if self.mail_script else None
        if scripted:
            if scripted.startswith("421"):
                server.loop.call_soon(server.transport.close)
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self._limited(server, session, "rcpt") or self._scripted("rcpt", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            if address in self.hang:
                await asyncio.sleep(self.hang_seconds)
                return "451 4.3.0 too late"
            reply = self._scripted("data", address)
            if reply:
                if reply.startswith("421"):
                    server.loop.call_soon(server.transport.close)
                return reply
        limited = self._limited(server, session, "message")
        if limited:
            return limited
        for address in envelope.rcpt_tos:
            self.messages.append((address, envelope.original_content if self.keep else b""))
        self.accepted += 1
        session.carried = getattr(session, "carried", 0) + 1
        if self.drop_after is not None and self.accepted >= self.drop_after:
            self.down = True
        return f"250 2.0.0 Ok: queued as Q{self.accepted:06d}"


class Certificates:
    """A test CA and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self, folder: Path):
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = folder / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context


def _authenticator(handler: SmtpHandler) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            handler.auth_logins.append(data.login.decode())
            limited = handler._limited(server, session, "auth")
            if limited:
                return AuthResult(success=False, handled=False, message=limited)
            ok = data.login.decode() == USER and data.password.decode() == PASSWORD
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    return check


@contextlib.contextmanager
def smtp_server(
    handler: SmtpHandler,
    security: str = "none",
    certificates: Certificates | None = None,
    auth: bool = False,
    starttls: bool = True,
) -> Iterator[int]:
    """Run aiosmtpd on a free loopback port for the block; yields the port."""
    port = free_port()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, "server_hostname": "mx.test"}
    if certificates is not None and security == "tls":
        kwargs["ssl_context"] = certificates.server_context()
    elif certificates is not None and starttls:
        kwargs["tls_context"] = certificates.server_context()
        kwargs["require_starttls"] = True
    if auth:
        kwargs["authenticator"] = _authenticator(handler)
        kwargs["auth_required"] = True
    controller = Controller(handler, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word (no banner, no replies)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


# HTTP APIs -----------------------------------------------------------------------------------


@dataclass
class Canned:
    """A response served instead of the normal one (consumed in order)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # read the request, then say nothing for this long


@dataclass
class Api:
    """State of the fake provider APIs: what each request carried, per recipient."""

    keep: bool = True
    canned: list[Canned] = field(default_factory=list)
    postmark_codes: dict[str, tuple[int, str]] = field(default_factory=dict)
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, recipients)
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    poisoned: set[str] = field(default_factory=set)  # a request naming one of these gets 500
    refusals: int = 0  # requests answered 500 for that
    # Added for the providers' finer rules (see ApiRules below): each POST's framing headers,
    # Postmark's suppression lists per message stream (address → (reason, origin)), and the
    # addresses Mailgun refuses as invalid (naming them in its answer or not).
    framing: list[dict[str, str]] = field(default_factory=list)
    postmark_suppressed: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    mailgun_invalid: set[str] = field(default_factory=set)
    mailgun_names_invalid: bool = False

    def received(self) -> Counter[str]:
        return Counter(address for address, _ in self.delivered)

    def record(self, path: str, recipients: list[tuple[str, dict[str, Any]]]) -> None:
        with self.lock:
            self.requests.append((path, len(recipients)))
            if self.keep:
                self.delivered.extend(recipients)
            else:
                self.delivered.extend((a, {}) for a, _ in recipients)


class ApiRules:
    """What the local APIs do besides the happy path: Postmark's per-stream suppression lists
    (406 on send, the suppression dump), Mailgun's refusal of a request with an invalid `to`."""

    server: ApiServer
    headers: Any
    path: str

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        match = re.fullmatch(r"/message-streams/([^/]+)/suppressions/dump", path)
        if match is None or self.headers.get("X-Postmark-Server-Token") != POSTMARK_TOKEN:
            self._reply(404, {"ErrorCode": 404, "Message": "not found"})
            return
        wanted = dict(urllib.parse.parse_qsl(query)).get("EmailAddress", "").lower()
        listed = self.server.api.postmark_suppressed.get(urllib.parse.unquote(match[1]), {})
        found = [
            {"EmailAddress": address, "SuppressionReason": reason, "Origin": origin,
             "CreatedAt": "2031-01-01T00:00:00Z"}
            for address, (reason, origin) in listed.items()
            if not wanted or address.lower() == wanted
        ]  # fmt: skip
        self._reply(200, {"Suppressions": found})

    def _postmark_inactive(self, item: dict[str, Any]) -> tuple[int, str] | None:
        address = item["To"].rpartition("<")[2].rstrip(">")
        stream = item.get("MessageStream", "")
        if address not in self.server.api.postmark_suppressed.get(stream, {}):
            return None
        return 406, (
            "You tried to send to recipient(s) that have been marked as inactive. Found "
            f"inactive addresses: {address}. Inactive recipients are ones that have generated a"
            " hard bounce, a spam complaint, or a manual suppression."
        )

    def _mailgun_refuses(self, to: list[str]) -> bool:
        api = self.server.api
        bad = [v for v in to if v.rpartition("<")[2].rstrip(">") in api.mailgun_invalid]
        if not bad:
            return False
        text = "'to' parameter is not a valid address. please check documentation"
        if api.mailgun_names_invalid:
            text = f"to parameter is not a valid address: {bad[0].rpartition('<')[2].rstrip('>')}"
        with api.lock:
            api.requests.append(("/refused", len(to)))
        self._reply(400, {"message": text})
        return True

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError


class ApiHandler(ApiRules, BaseHTTPRequestHandler):
    """Postmark /email/batch, Mailgun /v3/<domain>/messages and SendGrid /v3/mail/send."""

    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self._body()
        api = self.server.api
        with api.lock:
            api.framing.append({k.lower(): v for k, v in self.headers.items()})
        with api.lock:
            canned = api.canned.pop(0) if api.canned else None
        if canned is not None:
            if canned.hang:
                time.sleep(canned.hang)
                self.close_connection = True
                return
            self._reply(canned.status, canned.body, canned.headers)
            return
        if any(address.encode() in body for address in api.poisoned):
            with api.lock:
                api.refusals += 1
            self._reply(500, {"message": "Internal Server Error"})
            return
        if self.path == "/email/batch":
            self._postmark(body)
        elif self.path.startswith("/v3/") and self.path.endswith("/messages"):
            self._mailgun(body)
        elif self.path == "/v3/mail/send":
            self._sendgrid(body)
        else:
            self._reply(404, {"message": "not found"})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _postmark(self, body: bytes) -> None:
        if self.headers.get("X-Postmark-Server-Token") != POSTMARK_TOKEN:
            self._reply(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."})
            return
        messages = json.loads(body)
        if len(messages) > 500:
            self._reply(422, {"ErrorCode": 300, "Message": "Too many messages in the batch."})
            return
        api = self.server.api
        results, accepted = [], []
        for item in messages:
            code, text = self._postmark_inactive(item) or api.postmark_codes.get(
                item["To"].rpartition("<")[2].rstrip(">"), (0, "OK")
            )
            if code == 0:
                address = item["To"].rpartition("<")[2].rstrip(">")
                accepted.append((address, item))
                results.append({"ErrorCode": 0, "Message": "OK", "To": item["To"],
                                "MessageID": f"pm-{next(api.ids)}"})  # fmt: skip
            else:
                results.append({"ErrorCode": code, "Message": text})
        api.record(self.path, accepted)
        self._reply(200, results)

    def _mailgun(self, body: bytes) -> None:
        expected = "Basic " + base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._reply(401, b"Forbidden")
            return
        fields = _form_fields(self.headers["Content-Type"], body)
        to = [v for k, v in fields if k == "to"]
        if len(to) > 1000:
            self._reply(400, {"message": "Too many recipients: the limit is 1000"})
            return
        if self._mailgun_refuses(to):
            return
        variables = json.loads(dict(fields).get("recipient-variables", "{}"))
        common = {k: v for k, v in fields if k not in ("to", "recipient-variables")}
        delivered = []
        for value in to:
            address = value.rpartition("<")[2].rstrip(">")
            delivered.append((address, {**common, "variables": variables.get(address, {})}))
        self.server.api.record(self.path, delivered)
        self._reply(200, {"id": f"<mg-{next(self.server.api.ids)}@mg.example.org>",
                          "message": "Queued. Thank you."})  # fmt: skip

    def _sendgrid(self, body: bytes) -> None:
        if self.headers.get("Authorization") != f"Bearer {SENDGRID_KEY}":
            self._reply(
                401, {"errors": [{"message": "The provided authorization grant is invalid"}]}
            )
            return
        data = json.loads(body)
        people = data.get("personalizations", [])
        if len(people) > 1000:
            text = "The personalization block is limited to 1000 personalizations"
            self._reply(400, {"errors": [{"field": "personalizations", "message": text}]})
            return
        common = {k: v for k, v in data.items() if k != "personalizations"}
        delivered = [(p["to"][0]["email"], {**common, "personalization": p}) for p in people]
        self.server.api.record(self.path, delivered)
        self._reply(202, b"", {"X-Message-Id": f"sg-{next(self.server.api.ids)}"})


def _form_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    out = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        out.append((str(name), payload.decode("utf-8") if isinstance(payload, bytes) else ""))
    return out


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: Api):
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.api = api

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def api_server(api: Api) -> Iterator[ApiServer]:
    server = ApiServer(api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# Mail to send through them -----------------------------------------------------------------

TEMPLATE_HEADERS = (
    ("Reply-To", "innovate@example.org"),
    ("List-Id", "The Innovate Project <news.innovate.example.org>"),
    ("List-Unsubscribe", "<{{unsubscribe_url}}>, <mailto:unsubscribe@example.org>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
)


class SimpleComposer:
    """Builds each copy with EmailMessage; one variant for everyone, unless `variants` splits."""

    def __init__(self, subject: str = "Issue 7: the test issue", variants: bool = False):
        from innovate_news.mail import MessageTemplate

        self.subject = subject
        self.variants = variants
        self.templates = {
            key: MessageTemplate(
                key=key,
                sender="The Innovate Project <news@example.org>",
                subject=subject,
                text="Hello {{name}},\nthe {{variant}} issue.\nUnsubscribe: {{unsubscribe_url}}\n",
                html="<p>Hello {{html_name}}, the {{variant}} issue.</p>",
                headers=TEMPLATE_HEADERS,
            )
            for key in ("all", "event", "finding")
        }

    def variant_key(self, topics: frozenset[str]) -> str | None:
        if not self.variants or len(topics) == 3:
            return "all"
        return "event" if "event" in topics else "finding"

    def version(self, topics: frozenset[str]) -> Any:
        from innovate_news.store.versions import Version

        template = self.templates[self.variant_key(topics) or "all"]
        return Version.of(template.key, template.subject, "", template.html, template.text)

    def compose(self, subscriber: Any, test: bool = False) -> Any:
        from email.headerregistry import Address
        from email.message import EmailMessage

        from innovate_news.mail import Message

        key = self.variant_key(subscriber.topics) or "all"
        address = subscriber.normalised
        unsubscribe = f"https://example.org/unsubscribe?t=tok-{address}"
        message_id = f"<issue7.{address.replace('@', '.')}@example.org>"
        fields = {
            "name": subscriber.name,
            "html_name": subscriber.name.replace("&", "&amp;").replace("<", "&lt;"),
            "address": address,
            "unsubscribe_url": unsubscribe,
            "variant": key,
            "message_id": message_id,
        }
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = "The Innovate Project <news@example.org>"
        message["To"] = Address(display_name=subscriber.name, addr_spec=address)
        message["Subject"] = ("[TEST] " if test else "") + self.subject
        message["Message-ID"] = message_id
        message["List-Unsubscribe"] = f"<{unsubscribe}>, <mailto:unsubscribe@example.org>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(f"Hello {subscriber.name},\nthe {key} issue.\n")
        message.add_alternative(f"<p>Hello {fields['html_name']}</p>", subtype="html")
        return Message(address, message_id, message.as_bytes(), fields, self.templates[key])


def write_list(folder: Path, count: int, topics: Callable[[int], str] = lambda i: "") -> Path:
    """A subscriber CSV of r001@example.org ... with names, all subscribed."""
    path = folder / "subscribers.csv"
    lines = ["email,name,status,topics"]
    lines += [
        f"r{i:03d}@example.org,Reader {i},subscribed,{topics(i)}" for i in range(1, count + 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def numbered(received: Counter[str]) -> list[int]:
    """The sorted numbers of r001@example.org-style addresses, repeated as often as received."""
    return sorted(int(a[1:4]) for a, n in received.items() for _ in range(n))


ISSUE = "2031-01-test-issue"


def deliver(ledger: Any, provider: Any, listing: Any, composer: Any = None, **options: Any) -> Any:
    """One send run through the library's own sequence (lock, recover, plan, send)."""
    from innovate_news.delivery.campaign import deliver as run
    from innovate_news.delivery.plan import Options

    composer = composer or SimpleComposer()
    chosen = Options(provider.name, **options)
    return run(ledger, provider, composer, ISSUE, "subject", listing, chosen)
