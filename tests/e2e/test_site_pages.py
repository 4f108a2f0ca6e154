"""The site in a real browser: headless Chromium at phone and tablet widths, light and dark,
with the site built for a loopback server (so its links, images and stylesheet load)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from innovate_news import settings as settings_module
from innovate_news import templating
from innovate_news.site import build, devsite
from tests.e2e.test_browser import ARTIFACTS, browser, open_page, serve
from tests.support import NOW

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the email's browser tests

PAGES = {
    "home": "",
    "finding": "posts/mapping-the-field-three-reviews/",
    "event-upcoming": "posts/network-reunion-2027/",
    "event-past": "posts/guidance-launch-workshop/",
    "issue": "issues/2023-06-guidance-year/",
    "signup": "subscribe/",
}

# What the layout points need, measured in the page.
MEASURE = """
() => {
  const main = getComputedStyle(document.querySelector('main'));
  const h1 = document.querySelector('h1');
  const width = document.documentElement.clientWidth;
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    paddingTop: parseFloat(main.paddingTop),
    paddingBottom: parseFloat(main.paddingBottom),
    h1Right: h1.getBoundingClientRect().right,
    h1Font: parseFloat(getComputedStyle(h1).fontSize),
    buttonFonts: [...document.querySelectorAll('.button, .kind')]
      .map((el) => getComputedStyle(el).fontFamily),
    bodyFont: getComputedStyle(document.body).fontFamily,
  };
}
"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.support import REPO

    root = tmp_path_factory.mktemp("site-project")
    for part in ("innovate-news.toml", "posts", "issues", "static"):
        source = REPO / part
        if source.is_dir():
            import shutil

            shutil.copytree(source, root / part)
        else:
            (root / part).write_bytes(source.read_bytes())
    settings = settings_module.load(root / "innovate-news.toml")
    out = root / "served"
    out.mkdir()
    with serve(out) as base:
        local = devsite.local(settings, base)
        build.build(local, out, now=NOW, jobs=1)
        # The sign-up page is the list service's: rendered here as `serve` renders it.
        signup = dataclasses.replace(local)
        (out / "subscribe").mkdir()
        (out / "subscribe" / "index.html").write_text(
            templating.render(
                signup,
                "site/list_subscribe.html",
                site=signup.site,
                url=base + "subscribe/",
                feeds=[],
                heading="Sign up",
                problem="",
                action=base + "subscribe/",
                form={"email": "", "name": ""},
                consent_version="v1",
                consent_text=signup.email["consent_text"],
                topics=[{"value": "findings", "label": "Findings", "chosen": True}],
            ),
            encoding="utf-8",
        )
        yield base


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
@pytest.mark.parametrize("name", list(PAGES))
def test_site_pages_in_chromium(
    browser: Browser, site_url: str, name: str, width: int, scheme: str
) -> None:
    page = open_page(browser, site_url + PAGES[name], width, scheme)
    try:
        facts = page.evaluate(MEASURE)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"site-{name}-{width}-{scheme}.png"), full_page=True)
    finally:
        page.close()
    assert facts["scrollWidth"] <= width, "the page scrolls sideways"
    # main's own padding, not .wrap's `0 1.25rem`: content clear of the masthead and footer.
    assert facts["paddingTop"] >= 16 and facts["paddingBottom"] >= 32
    assert facts["h1Right"] <= width and facts["h1Font"] <= 32
    assert all("system-ui" in font for font in facts["buttonFonts"])
