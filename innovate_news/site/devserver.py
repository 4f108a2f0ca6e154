"""`serve-site`: the local build served on 127.0.0.1, rebuilt on each change, pages reloaded.

Each HTML page is sent with a small script (and, after a failed build, the error) added to
the response only, never to the built files: the script asks `/_devsite/status` to answer once
the next build attempt is done, then reloads the page.
"""

from __future__ import annotations

import contextlib
import errno
import html
import json
import sys
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from innovate_news.errors import InnovateNewsError, ServeError
from innovate_news.settings import Settings
from innovate_news.site import devsite, watch
from innovate_news.site.devsite import LiveSite, Status

HOST = "127.0.0.1"  # this machine only: drafts and the email preview are not for the network
DEFAULT_PORT = 8000
STATUS = "/_devsite/status"
SCRIPT = "/_devsite/reload.js"
EMAIL = "/_preview/"
WAIT = 20.0  # seconds a status request waits for the next build before answering anyway
WAITERS = 32  # status requests waiting at once; more are answered at once
RELOAD_JS = b"""(() => {
  const version = Number(document.currentScript.dataset.version);
  const poll = () => fetch("%s?after=" + version, {cache: "no-store"})
    .then((answer) => answer.json())
    .then((status) => status.version !== version ? location.reload() : setTimeout(poll, 100))
    .catch(() => setTimeout(poll, 1000));
  poll();
})();
""" % STATUS.encode()
BOX = "position:fixed;z-index:2147483647;font:14px/1.4 system-ui,sans-serif;"
BADGE = BOX + "right:.75rem;bottom:.75rem;padding:.4rem .7rem;background:#222;color:#fff;"
ALERT = BOX + (
    "left:0;right:0;top:0;max-height:60vh;overflow:auto;margin:0;padding:1rem;"
    "background:#fff1f0;color:#5c0000;border-bottom:3px solid #c00;white-space:pre-wrap;"
)


def inject(page: str, status: Status, email: bool = False) -> str:
    """`page` with the reload script, a link to the email preview (or back to the site), and
    the last build's error if it failed."""
    href, label = ("/", "Site") if email else (EMAIL, "Email preview")
    link = f'<a style="color:#fff" href="{href}">{label}</a>'
    parts = [f'<p style="{BADGE}">serve-site · {link}</p>']
    if status.error:
        text = html.escape(f"The last build failed; this is the last good site.\n\n{status.error}")
        parts.append(f'<pre role="alert" style="{ALERT}">{text}</pre>')
    parts.append(f'<script src="{SCRIPT}" data-version="{status.version}"></script>')
    snippet = "\n".join(parts) + "\n"
    at = page.lower().rfind("</body>")
    return page[:at] + snippet + page[at:] if at >= 0 else page + snippet


class Server(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 for one LiveSite."""

    daemon_threads = True
    live: LiveSite

    def __init__(self, port: int):
        try:
            super().__init__((HOST, port), Handler)
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            raise ServeError(
                f"port {port} is in use; pass --port with another (0 picks a free one)"
                if taken
                else f"cannot listen on {HOST}:{port}: {exc.strerror or exc}"
            ) from exc
        self.waiters = threading.BoundedSemaphore(WAITERS)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a closed tab is no error
            super().handle_error(request, client_address)


class Handler(SimpleHTTPRequestHandler):
    """Files from the live build's folder; HTML pages with the reload script added."""

    server: Server
    timeout = 30  # an idle connection gives its thread back

    def __init__(self, request: Any, client_address: Any, server: Server):
        super().__init__(request, client_address, server, directory=str(server.live.out))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would bury the build messages

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # a reload shows the new CSS and images
        super().end_headers()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if self.headers.get("Host") not in _hosts(self.server.server_address[1]):
            # A page elsewhere that points a name of its own at 127.0.0.1 gets nothing.
            self._send(403, "text/plain", b"serve-site answers only at " + self.server.url.encode())
        elif path == STATUS:
            self._status()
        elif path == SCRIPT:
            self._send(200, "text/javascript", RELOAD_JS)
        elif path == EMAIL:
            self._email()
        else:
            self._page(path)

    def do_HEAD(self) -> None:
        self._send(405, "text/plain", b"GET only")

    def _status(self) -> None:
        live = self.server.live
        after = parse_qs(urlsplit(self.path).query).get("after", [""])[0]
        status = live.status
        if after.isdigit() and status.version <= int(after) and self.server.waiters.acquire(False):
            try:
                status = live.wait(int(after), WAIT)
            finally:
                self.server.waiters.release()
        self._send(200, "application/json", json.dumps(status.as_json()).encode())

    def _email(self) -> None:
        live = self.server.live
        try:
            page, code = live.email(), 200
        except InnovateNewsError as exc:
            page, code = _page_of("No email preview", str(exc)), 404
        self._html(code, inject(page, live.status, email=True))

    def _page(self, path: str) -> None:
        file = Path(self.translate_path(path))
        if file.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            file = file / "index.html"
        if not file.is_file():
            missing = Path(self.directory) / "404.html"
            page = _read(missing) or _page_of("Not found", f"Nothing at {path} in this build.")
            self._html(404, inject(page, self.server.live.status))
        elif file.suffix == ".html":
            self._html(200, inject(_read(file) or "", self.server.live.status))
        else:
            super().do_GET()

    def _html(self, code: int, page: str) -> None:
        self._send(code, "text/html; charset=utf-8", page.encode("utf-8"))

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(
    settings: Settings,
    port: int | None,
    ready: Callable[[str], None],
    notify: devsite.Notify,
    stop: threading.Event | None = None,
) -> None:
    """Build, serve and rebuild on every change until `stop` is set or Ctrl-C."""
    stop = stop or threading.Event()
    server = Server(DEFAULT_PORT if port is None else port)
    live = server.live = LiveSite(settings, server.url, notify)
    thread = threading.Thread(target=server.serve_forever, name="innovate-news-site", daemon=True)
    try:
        while not stop.is_set():
            targets = live.targets()
            present = targets.present()
            # The first batch is empty and comes once the watch is on: building then, not
            # before, means no edit falls between the build and the watch.
            for _ in watch.changes(targets, stop):
                live.rebuild()
                if thread.ident is None:  # not started yet: the first build is done
                    thread.start()
                    ready(server.url)
                if live.targets() != targets or targets.present() != present:
                    break  # the settings moved a folder, or one came or went: watch anew
    except KeyboardInterrupt:
        pass
    finally:
        live.close()
        if thread.is_alive():
            server.shutdown()
            thread.join(5)
        server.server_close()


def _hosts(port: int) -> set[str]:
    return {f"{HOST}:{port}", f"localhost:{port}"}


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return None


def _page_of(title: str, text: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><pre>{html.escape(text)}</pre></body></html>\n"
    )
