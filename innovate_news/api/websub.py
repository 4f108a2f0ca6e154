"""WebSub: tell the hub which feeds changed since the last ping (re-exported by `publishing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from innovate_news.errors import AuthError, SendError, TransientError

if TYPE_CHECKING:
    from innovate_news.delivery.providers.http import Client
    from innovate_news.settings import Settings
    from innovate_news.site.websub import PingReport, Publish

HUB = "the WebSub hub"
TIMEOUT = 15.0  # seconds per request: a hung hub must not hold the deploy's job for long
FORM = "application/x-www-form-urlencoded"


def ping(settings: Settings, *, dry_run: bool = False) -> PingReport:
    """Tell [site] websub_hub which feeds in the output folder changed since the last ping:
    one `hub.mode=publish` request per changed feed, tried again with backoff while the hub is
    busy or unreachable ([site] websub_attempts, websub_backoff).

    The hub's errors are in the report, never raised (the site is out already); a feed is
    recorded only once the hub took it, so the next ping retries the rest. Without websub_hub,
    or with `dry_run`, nothing is sent and the report lists what would be.
    """
    from innovate_news.site import websub

    hub = settings.site["websub_hub"]
    if hub is None or dry_run:
        return websub.ping(settings, None, dry_run=dry_run)
    from innovate_news.delivery.providers.http import Client

    base, path = split_url(hub)
    client = Client(HUB, base, TIMEOUT)
    try:
        return websub.ping(settings, _publisher(client, path))
    finally:
        client.close()


def _publisher(client: Client, path: str) -> Publish:
    """One publish ping per topic, POSTed to `path` through `client`."""
    from innovate_news.delivery.providers.http import DeliveryUnknown

    def publish(topic: str) -> None:
        # hub.url is what the deployed hubs read (PubSubHubbub 0.4), hub.topic what newer ones
        # do; a hub ignores the parameter it does not know.
        body = urlencode({"hub.mode": "publish", "hub.url": topic, "hub.topic": topic})
        try:
            answer = client.post(path, body.encode(), FORM)
        except DeliveryUnknown as exc:  # a repeated ping is harmless, so try it again
            raise TransientError(str(exc)) from exc
        except AuthError as exc:
            # Client's message is about API keys; a hub that wants credentials is refusing us.
            raise SendError(f"{HUB} refused the ping as unauthorised (HTTP 401 or 403)") from exc
        if not 200 <= answer.status < 300:
            raise SendError(f"{HUB} answered HTTP {answer.status}: {answer.text()[:200]}")

    return publish


def split_url(url: str) -> tuple[str, str]:
    """`url` as the base and path `Client` joins with one `/`, which must give `url` back."""
    parts = urlsplit(url)
    folder, _, last = (parts.path or "/").rpartition("/")
    base = urlunsplit((parts.scheme, parts.netloc, folder, "", ""))
    return base, last + (f"?{parts.query}" if parts.query else "")
