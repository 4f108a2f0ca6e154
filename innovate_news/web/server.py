"""Serving the list's WSGI app with waitress (used here only), in the foreground or a thread."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from innovate_news.web.app import MAX_BODY

WsgiApp = Callable[..., Any]


def _server(
    app: WsgiApp,
    host: str,
    port: int,
    threads: int,
    trusted_proxy: str | None,
    sockets: dict[int, Any] | None = None,
) -> BaseWSGIServer:
    options: dict[str, Any] = {"host": host, "port": port, "threads": threads}
    options["ident"] = "innovate-news"
    # A longer Content-Length is answered 413 from the headers alone, the body never read
    # (waitress refuses a length equal to its limit, hence the + 1); the app holds each route
    # to its own, lower limit (web.app).
    options["max_request_body_size"] = MAX_BODY + 1
    if trusted_proxy:
        # The proxy's X-Forwarded-For becomes the client address the sign-up limit counts.
        options["trusted_proxy"] = trusted_proxy
        options["trusted_proxy_headers"] = {"x-forwarded-for", "x-forwarded-proto"}
    server = create_server(app, map=sockets, **options)
    if isinstance(server, MultiSocketServer):  # only when given several listen addresses
        raise TypeError("serve listens on one address")
    return server


class Running:
    """A server answering in a background thread until `stop()`."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        trusted_proxy: str | None = None,
    ):
        self.sockets: dict[int, Any] = {}
        self.server = _server(app, host, port, threads, trusted_proxy, self.sockets)
        self.host = host
        self.port = int(self.server.getsockname()[1])
        self.thread = threading.Thread(target=self._run, name="innovate-news-serve", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the sockets were closed by stop()
            self.server.run()

    def stop(self) -> None:
        logging.getLogger("waitress").setLevel(logging.CRITICAL)  # no tracebacks on the way out
        for channel in list(self.sockets.values()):
            channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self.thread.join(5)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    app: WsgiApp,
    host: str,
    port: int,
    threads: int,
    trusted_proxy: str | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; `ready` is told the URL once listening."""
    server = _server(app, host, port, threads, trusted_proxy)
    if ready:
        ready(f"http://{host}:{server.getsockname()[1]}/")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        server.task_dispatcher.shutdown()
