"""WebSub on loopback: a static server for the built site, a hub and a subscriber.

The hub follows the W3C WebSub recommendation (https://www.w3.org/TR/websub/): a subscription
(`hub.mode=subscribe`) is answered 202, then validated (the hub fetches the topic and checks
that it names this hub, else it tells the subscriber `hub.mode=denied`) and its intent verified
(a GET to the callback with `hub.challenge`, which must come back as the body). A publish ping
(`hub.mode=publish` with `hub.url` or `hub.topic`) is answered 202; the hub then fetches the
topic and POSTs it to each verified callback, with `Link: <hub>; rel="hub", <topic>;
rel="self"` and, for a subscription with a secret, `X-Hub-Signature: sha256=...`. All of it
runs on real HTTP servers on 127.0.0.1; the hub's own requests ignore proxy settings.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser

WAIT = 5.0  # seconds a test waits for the hub's background work at most
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"loopback only, not {url}")
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 (above)
    return _OPENER.open(request, timeout=WAIT)


def _form(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length).decode("utf-8")
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"") -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """`folder` (which may not exist yet) served at the URL yielded, ending in `/`."""
    handler = functools.partial(_Quiet, directory=str(folder))
    with _serving(_Server(("127.0.0.1", 0), handler)) as url:
        yield url


# The hub ------------------------------------------------------------------------------------


def advertised_hubs(body: bytes, content_type: str) -> set[str]:
    """The hubs a feed names: rel="hub" links (Atom, RSS's atom:link) or JSON Feed's `hubs`."""
    if "json" in content_type:
        return {hub["url"] for hub in json.loads(body).get("hubs", [])}
    return {link.href for link in feedparser.parse(body).feed.get("links", []) if link.rel == "hub"}


@dataclass
class Hub:
    """What the hub was asked and did; `script` holds the statuses for the next publish pings
    (consumed in order, then 202)."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)  # each ping's topic, answered or not
    subscribers: dict[str, dict[str, str | None]] = field(default_factory=dict)  # topic → cb
    denied: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what went wrong in the hub's own work
    lock: threading.Lock = field(default_factory=threading.Lock)
    workers: list[threading.Thread] = field(default_factory=list)

    def later(self, work: Any, *args: Any) -> None:
        """The hub's work after its 202, as the recommendation has it: asynchronous."""
        thread = threading.Thread(target=work, args=args, daemon=True)
        with self.lock:  # started before it is listed, so `settle` never joins an unstarted one
            thread.start()
            self.workers.append(thread)

    def settle(self) -> None:
        with self.lock:
            workers = list(self.workers)
        for thread in workers:
            thread.join(WAIT)

    def subscribe(self, topic: str, callback: str, secret: str | None) -> None:
        """Validate the topic, then verify the subscriber's intent; only then is it kept."""
        try:
            with _fetch(topic) as answer:
                hubs = advertised_hubs(answer.read(), answer.headers.get("Content-Type", ""))
        except (OSError, ValueError):
            hubs = set()
        if self.url not in hubs:
            self.denied.append(topic)
            query = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": "not our topic"}
            with contextlib.suppress(OSError):
                _fetch(_with_query(callback, query)).close()
            return
        challenge = secrets.token_urlsafe(16)
        query = {"hub.mode": "subscribe", "hub.topic": topic, "hub.challenge": challenge,
                 "hub.lease_seconds": "86400"}  # fmt: skip
        try:
            with _fetch(_with_query(callback, query)) as answer:
                echoed = answer.read().decode("utf-8")
        except OSError:
            return
        if echoed == challenge:
            with self.lock:
                self.subscribers.setdefault(topic, {})[callback] = secret

    def distribute(self, topic: str) -> None:
        """Fetch the topic and POST it to every verified subscriber (none: nothing to fetch)."""
        with self.lock:
            callbacks = dict(self.subscribers.get(topic, {}))
        if not callbacks:
            return
        try:
            with _fetch(topic) as answer:
                body, kind = answer.read(), answer.headers.get("Content-Type", "")
        except OSError as exc:
            self.errors.append(f"fetching {topic}: {exc}")
            return
        for callback, secret in callbacks.items():
            headers = {"Content-Type": kind,
                       "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}  # fmt: skip
            if secret:
                digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={digest}"
            with contextlib.suppress(OSError):
                _fetch(callback, body, headers).close()


def _with_query(url: str, query: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(query)


class _HubHandler(BaseHTTPRequestHandler):
    server: _HubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        hub = self.server.hub
        form = _form(self)
        mode = form.get("hub.mode")
        if mode == "subscribe" and form.get("hub.topic") and form.get("hub.callback"):
            _reply(self, 202)
            hub.later(
                hub.subscribe, form["hub.topic"], form["hub.callback"], form.get("hub.secret")
            )
        elif mode == "publish" and (topic := form.get("hub.url") or form.get("hub.topic")):
            with hub.lock:
                hub.publishes.append(topic)
                status = hub.script.pop(0) if hub.script else 202
            _reply(self, status, b"" if status < 300 else b"hub trouble")
            if status < 300:
                hub.later(hub.distribute, topic)
        else:
            _reply(self, 400, b"hub.mode, hub.topic and hub.callback (or hub.url) are required")


class _HubServer(_Server):
    def __init__(self, hub: Hub):
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.hub = hub


@contextlib.contextmanager
def hub_server(hub: Hub | None = None) -> Iterator[Hub]:
    """A hub on loopback at `hub.url` (its path is /hub)."""
    hub = hub or Hub()
    with _serving(_HubServer(hub)) as root:
        hub.url = root + "hub"
        try:
            yield hub
        finally:
            hub.settle()


# The subscriber -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    topic: str  # from the Link rel="self" the hub sent
    content_type: str
    body: bytes
    link: str
    signature: str | None


@dataclass
class Subscriber:
    """A callback that answers verification for the topics it asked for and keeps deliveries."""

    url: str = ""
    wanted: set[str] = field(default_factory=set)
    verified: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def subscribe(self, hub: str, topic: str, secret: str | None = None) -> None:
        """Ask `hub` for `topic` and wait until the hub has verified it (or denied it)."""
        with self.changed:
            self.wanted.add(topic)
        form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": self.url}
        if secret:
            form["hub.secret"] = secret
        with _fetch(hub, urllib.parse.urlencode(form).encode()) as answer:
            assert answer.status == 202
        self.wait(lambda: topic in self.verified or topic in self.denied)

    def wait(self, done: Any, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done():
                left = deadline - time.monotonic()
                assert left > 0, "the hub did not call back in time"
                self.changed.wait(left)

    def received(self, topic: str) -> list[Delivery]:
        with self.changed:
            return [d for d in self.deliveries if d.topic == topic]


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        me = self.server.subscriber
        query = {
            k: v[-1]
            for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()
        }
        mode, topic = query.get("hub.mode"), query.get("hub.topic", "")
        with me.changed:
            if mode == "subscribe" and topic in me.wanted and "hub.challenge" in query:
                _reply(self, 200, query["hub.challenge"].encode())
                me.verified.append(topic)
            elif mode == "denied":
                _reply(self, 200)
                me.denied.append(topic)
            else:
                _reply(self, 404)
            me.changed.notify_all()

    def do_POST(self) -> None:
        me = self.server.subscriber
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        link = self.headers.get("Link", "")
        topic = next(
            (part.split(">")[0].strip(" <") for part in link.split(",") if 'rel="self"' in part), ""
        )
        delivery = Delivery(topic, self.headers.get("Content-Type", ""), body, link,
                            self.headers.get("X-Hub-Signature"))  # fmt: skip
        _reply(self, 200)
        with me.changed:
            me.deliveries.append(delivery)
            me.changed.notify_all()


class _CallbackServer(_Server):
    def __init__(self, subscriber: Subscriber):
        super().__init__(("127.0.0.1", 0), _CallbackHandler)
        self.subscriber = subscriber


@contextlib.contextmanager
def subscriber_server() -> Iterator[Subscriber]:
    """A subscriber whose callback is `url` (…/callback) on loopback."""
    subscriber = Subscriber()
    with _serving(_CallbackServer(subscriber)) as root:
        subscriber.url = root + "callback"
        yield subscriber
