"""The email in a real browser: headless Chromium at phone and desktop widths, light and dark."""

from __future__ import annotations

import contextlib
import functools
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from innovate_news import settings as settings_module
from innovate_news.audience import tokens
from innovate_news.email import preview as email_preview
from tests.support import NOW, REPO

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
ISSUE = "2023-06-guidance-year"

# Computed in the page: every visible element's box, the links' hit test, text contrast.
MEASURE = """
() => {
  const width = document.documentElement.clientWidth;
  const visible = (el) => {
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !el.closest('[style*="display:none"]');
  };
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const contrast = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const all = [...document.body.querySelectorAll('*')].filter(visible);
  const outside = (el) => {
    const r = el.getBoundingClientRect();
    return r.right > width + 0.5 || r.left < -0.5;
  };
  const overflowing = all.filter(outside).map((el) => el.tagName + '.' + el.className);
  const textTags = ['P', 'LI', 'H1', 'H2', 'H3', 'A', 'STRONG', 'BLOCKQUOTE'];
  const texts = all.filter((el) => textTags.includes(el.tagName) && el.textContent.trim());
  const lowContrast = texts
    .map((el) => ({ text: el.textContent.trim().slice(0, 40),
                    ratio: contrast(rgb(getComputedStyle(el).color), background(el)) }))
    .filter((t) => t.ratio < 4.5);
  const links = [...document.querySelectorAll('a')].filter(visible).map((a) => {
    a.scrollIntoView({ block: 'center' });
    const r = a.getClientRects()[0];
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { href: a.getAttribute('href'), text: a.textContent.trim(),
             clickable: !!hit && (hit === a || a.contains(hit)) };
  });
  window.scrollTo(0, 0);
  return {
    width,
    scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    overflowing,
    lowContrast,
    checkedTexts: texts.length,
    links,
    images: [...document.images].map((i) => ({ alt: i.getAttribute('alt'),
                                                loaded: i.naturalWidth })),
    lang: document.documentElement.lang,
    wrapperLang: !!document.querySelector('div[lang="en-GB"]'),
    tables: [...document.querySelectorAll('table')].map((t) => t.getAttribute('role')),
    pageBackground: lum(background(document.querySelector('.in-page') || document.body)),
    bodyText: getComputedStyle(document.querySelector('.in-text p')).color,
  };
}
"""


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, made by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A static file server on loopback for the preview and its logo."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        yield launched
        launched.close()


@pytest.fixture
def preview_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(tokens.ENV, "browser-tests-secret-0123456789")
    served = project / "served"
    served.mkdir()
    (served / "logo.png").write_bytes(png(160, 40, (29, 53, 87)))
    with serve(served) as base:
        toml = project / "innovate-news.toml"
        logo = f'logo_url = "{base}logo.png"\nlogo_alt = "The Innovate Project"\n'
        toml.write_text(
            toml.read_text(encoding="utf-8").replace("[email]\n", "[email]\n" + logo),
            encoding="utf-8",
        )
        settings = settings_module.load(toml)
        written = email_preview.write_preview(settings, ISSUE, out=served, now=NOW)
        yield base + written.html.name


def offline(route: Route) -> None:
    """Only loopback: an email must not need the network to lay out."""
    if route.request.url.startswith(("http://127.0.0.1", "data:")):
        route.continue_()
    else:
        route.abort()


def open_page(browser: Browser, url: str, width: int, scheme: str) -> Page:
    page = browser.new_page(
        viewport={"width": width, "height": 800},
        color_scheme="dark" if scheme == "dark" else "light",
    )
    page.set_default_timeout(15_000)
    page.route("**/*", offline)
    page.goto(url, wait_until="load")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_email_in_chromium(browser: Browser, preview_url: str, width: int, scheme: str) -> None:
    page = open_page(browser, preview_url, width, scheme)
    try:
        facts = page.evaluate(MEASURE)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"email-{width}-{scheme}.png"), full_page=True)
    finally:
        page.close()
    assert facts["width"] == width
    assert facts["scrollWidth"] <= width, "the page scrolls sideways"
    assert facts["overflowing"] == []
    assert facts["checkedTexts"] > 30
    assert facts["lowContrast"] == [], f"text under 4.5:1 in {scheme} mode"
    assert facts["images"] and all(i["alt"] and i["loaded"] > 0 for i in facts["images"])
    assert facts["lang"] == "en-GB" and facts["wrapperLang"]
    assert facts["tables"] and all(role == "presentation" for role in facts["tables"])
    links = facts["links"]
    assert len(links) >= 12  # post titles are the links: no "Read more" rows
    assert all(link["href"].startswith(("https://", "http://", "mailto:")) for link in links)
    assert [link["text"] for link in links if not link["clickable"]] == []
    assert {"View in browser", "Unsubscribe", "Book a place", "Google Calendar"} <= {
        link["text"] for link in links
    }
    if scheme == "dark":
        assert facts["pageBackground"] < 0.05, "dark mode did not darken the page"
        assert facts["bodyText"] == "rgb(230, 233, 237)"
    else:
        assert facts["pageBackground"] > 0.8
        assert facts["bodyText"] == "rgb(31, 41, 51)"


def test_phone_width_stacks_into_one_readable_column(browser: Browser, preview_url: str) -> None:
    page = open_page(browser, preview_url, 375, "light")
    try:
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('.in-text p')].slice(0, 8).map((p) => ({
                   width: p.getBoundingClientRect().width,
                   font: parseFloat(getComputedStyle(p).fontSize) }))"""
        )
    finally:
        page.close()
    assert all(300 <= s["width"] <= 375 for s in sizes)  # full width, minus the padding
    assert all(s["font"] >= 14 for s in sizes)
