"""`serve-site`: the site built for 127.0.0.1, served, rebuilt on change, pages told to reload.

The server runs in a thread on a free port against a copy of the example project; the tests
edit its files as a writer would and wait (bounded) for the status endpoint to report the build.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from innovate_news import api, templating
from innovate_news.errors import ServeError
from innovate_news.settings import Settings
from innovate_news.site import devsite
from innovate_news.site.devserver import Server
from tests.support import NOW

POST = "posts/2022-09-27-how-the-case-studies-are-designed.md"
PAGE = "posts/how-the-case-studies-are-designed/"
TITLE = "Inside the fieldwork: how the six case studies are designed"
PUBLIC = "https://example.org/innovate/"
WAIT = 15.0  # seconds: far more than a rebuild of the example takes


@dataclass
class Running:
    url: str
    notes: list[str] = field(default_factory=list)

    def get(self, path: str = "", **headers: str) -> requests.Response:
        return requests.get(self.url + path, headers=headers, timeout=WAIT)

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("_devsite/status").json()
        return found

    def next_build(self, after: int) -> dict[str, Any]:
        """The status once a build attempt after `after` is done (bounded long polls)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found: dict[str, Any] = self.get(f"_devsite/status?after={after}").json()
            if found["version"] > after:
                return found
        raise AssertionError(f"no build after version {after}; notes: {self.notes}")


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Running]:
    urls: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    notes: list[str] = []
    thread = threading.Thread(
        target=api.serve_site,
        args=(settings,),
        kwargs={"port": 0, "ready": urls.put, "notify": notes.append, "stop": stop},
        daemon=True,
    )
    thread.start()
    try:
        yield Running(urls.get(timeout=WAIT), notes)
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "serve-site did not stop"


def replace(path: Path, old: str, new: str) -> None:
    """Save as many editors do: a new file renamed over the old one."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    temporary = path.with_name(path.name + ".saving")
    temporary.write_text(text.replace(old, new), encoding="utf-8")
    temporary.replace(path)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_pages_link_to_the_local_server_and_the_real_site_is_untouched(
    project: Path, settings: Settings
) -> None:
    api.build(settings, now=NOW, jobs=1)
    real = snapshot(project / "site")
    with serving(settings) as site:
        home = site.get()
        assert home.status_code == 200
        assert f'href="{site.url}{PAGE}"' in home.text
        # The sign-up page is the list service's (`serve`), not the static site's.
        text = home.text.replace(f'href="{templating.links(settings)["signup"]}"', "")
        assert f'href="{PUBLIC}' not in text and f'src="{PUBLIC}' not in text
        post = site.get(PAGE)
        assert post.status_code == 200 and TITLE in post.text
        stylesheet = site.get("style.css")
        assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["Content-Type"]
        assert site.get("static-that-is-not-there.png").status_code == 404
        assert site.get("posts").url == site.url + "posts/"
    assert snapshot(project / "site") == real
    built = devsite.folder(settings) / "site"
    pages = list(built.rglob("*.html"))
    assert pages and not any("_devsite" in p.read_text(encoding="utf-8") for p in pages)


def test_an_edited_post_is_built_again_and_the_page_told_to_reload(
    project: Path, settings: Settings
) -> None:
    with serving(settings) as site:
        before = site.get(PAGE)
        version = site.status()["version"]
        assert f'data-version="{version}"' in before.text  # the reload script knows its build
        replace(project / POST, TITLE, "The case studies, redesigned")
        status = site.next_build(version)
        assert status["error"] is None and status["built"] == version + 1
        after = site.get(PAGE)
        assert "The case studies, redesigned" in after.text and TITLE not in after.text
        assert f'data-version="{status["version"]}"' in after.text
        assert site.get("_devsite/reload.js").status_code == 200


def test_a_failed_build_is_shown_and_the_last_good_site_kept(
    project: Path, settings: Settings
) -> None:
    with serving(settings) as site:
        version = site.status()["version"]
        replace(project / POST, "kind: finding", "kind: news")
        status = site.next_build(version)
        assert status["error"] and "kind 'news'" in status["error"]
        assert "2022-09-27-how-the-case-studies-are-designed.md" in status["error"]
        page = site.get(PAGE)
        assert page.status_code == 200 and TITLE in page.text  # the last good build
        assert 'role="alert"' in page.text and "kind &#x27;news&#x27;" in page.text
        assert any("Build failed" in note and "kind 'news'" in note for note in site.notes)

        replace(project / POST, "kind: news", "kind: finding")
        status = site.next_build(status["version"])
        assert status["error"] is None
        assert 'role="alert"' not in site.get(PAGE).text


def test_a_settings_change_is_built_and_served(project: Path, settings: Settings) -> None:
    with serving(settings) as site:
        version = site.status()["version"]
        replace(
            project / "innovate-news.toml", 'title = "The Innovate Project"', 'title = "Renamed"'
        )
        assert site.next_build(version)["error"] is None
        assert "Renamed" in site.get().text


def test_the_latest_issue_s_email_is_one_click_away(settings: Settings) -> None:
    with serving(settings) as site:
        assert 'href="/_preview/"' in site.get().text
        email = site.get("_preview/")
        assert email.status_code == 200
        assert "The guidance year" in email.text  # the subject of the latest example issue
        assert f"{site.url}posts/" in email.text and 'href="/"' in email.text
        assert f'href="{PUBLIC}posts/' not in email.text


def test_it_answers_only_to_its_own_address(settings: Settings) -> None:
    with serving(settings) as site:
        assert site.get(Host="attacker.example.com").status_code == 403
        assert site.get(Host=site.url.split("/")[2]).status_code == 200


def test_a_taken_port_is_a_clear_error(settings: Settings) -> None:
    taken = Server(0)
    try:
        with pytest.raises(ServeError, match="is in use; pass --port"):
            api.serve_site(settings, port=taken.server_address[1])
    finally:
        taken.server_close()


def test_a_first_build_that_fails_is_shown_until_fixed(project: Path, settings: Settings) -> None:
    replace(project / POST, "kind: finding", "kind: news")
    with serving(settings) as site:
        status = site.status()
        assert status["built"] == 0 and "kind 'news'" in status["error"]
        home = site.get()
        assert home.status_code == 404 and 'role="alert"' in home.text
        assert f'data-version="{status["version"]}"' in home.text  # and it reloads when fixed
        replace(project / POST, "kind: news", "kind: finding")
        assert site.next_build(status["version"])["error"] is None
        assert site.get().status_code == 200
