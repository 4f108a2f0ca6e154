"""The email's header band in dark mode, as Chromium paints it: distinct from the body."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.e2e.test_browser import browser, open_page, preview_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

COLOURS = """
() => {
  const paint = (el) => getComputedStyle(el).backgroundColor;
  const band = document.querySelector('.in-masthead');
  const card = document.querySelector('.in-card');
  return {band: paint(band), card: paint(card), page: paint(document.body),
          title: getComputedStyle(band.querySelector('h1 a')).color};
}
"""


def _contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        parts = [float(v) / 255 for v in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        f = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in parts]
        return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_dark_header_band_stands_out_from_the_body(
    browser: Browser,  # noqa: F811
    preview_url: str,  # noqa: F811
) -> None:
    page = open_page(browser, preview_url, 600, "dark")
    try:
        colours = page.evaluate(COLOURS)
    finally:
        page.close()
    assert _contrast(colours["band"], colours["card"]) >= 2.0, colours
    assert _contrast(colours["band"], colours["page"]) >= 2.0, colours
    assert _contrast(colours["band"], colours["title"]) >= 4.5, colours
