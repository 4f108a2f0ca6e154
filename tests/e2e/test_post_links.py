"""Links between posts: `post:slug` and `issue:slug` become the real URLs on the site, in the
feeds and in the email, and `check` names the line of every link or image that leads nowhere."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import feedparser
from click.testing import Result
from lxml import html as lxml_html  # type: ignore[import-untyped]

from innovate_news import checks
from innovate_news.audience import tokens
from innovate_news.settings import Settings

NOW = ("--now", "2026-11-25T12:00")
BASE = "https://example.org/innovate/"
DESIGN = f"{BASE}posts/how-the-case-studies-are-designed/"
WINTER = f"{BASE}issues/2021-01-winter-update/"
LOCATED = re.compile(r"^(?P<path>[^\n:]+):(?P<line>\d+): (?P<message>.+)$", re.M)
POST = "posts/2023-10-01-linking.md"


def write_post(project: Path, body: str, front: str = "") -> Path:
    path = project / POST
    path.write_text(
        f"---\ntitle: Linking\ndate: 2023-10-01\nkind: blog\n{front}---\n\n{body}",  # body: line 7
        encoding="utf-8",
    )
    return path


def located(stderr: str) -> dict[int, str]:
    found = {}
    for match in LOCATED.finditer(stderr):
        assert match["path"] == POST, stderr  # relative to the project, and only this post
        found[int(match["line"])] = match["message"]
    return found


def test_short_links_become_the_real_urls_in_the_page_feeds_and_email(
    project: Path, run: Callable[..., Result]
) -> None:
    write_post(
        project,
        "How we chose: see [the design](post:how-the-case-studies-are-designed#phases)\n"
        "and [the winter update](issue:2021-01-winter-update).\n",
    )
    (project / "issues" / "2023-12-links.md").write_text(
        "---\nsubject: Links\ndate: 2023-12-01\npreheader: P\nposts: [linking]\n---\n\n"
        "Read [how the case studies are designed](post:how-the-case-studies-are-designed).\n",
        encoding="utf-8",
    )
    assert run("check", *NOW).exit_code == 0
    result = run("build", *NOW)
    assert result.exit_code == 0, result.output
    site = project / "site"

    page = lxml_html.fromstring((site / "posts" / "linking" / "index.html").read_bytes())
    [content] = page.xpath('//div[@class="content"]')
    assert [a.get("href") for a in content.iter("a")] == [f"{DESIGN}#phases", WINTER]
    entry = next(
        e
        for e in feedparser.parse((site / "feed.xml").read_bytes()).entries
        if e.link.endswith("/linking/")
    )
    assert f'href="{DESIGN}#phases"' in entry.content[0].value
    assert f'href="{WINTER}"' in entry.content[0].value
    items = json.loads((site / "blog" / "feed.json").read_text(encoding="utf-8"))["items"]
    html = next(i["content_html"] for i in items if i["url"].endswith("/linking/"))
    assert f'href="{DESIGN}#phases"' in html
    issue_page = (site / "issues" / "2023-12-links" / "index.html").read_text(encoding="utf-8")
    assert f'href="{DESIGN}"' in issue_page

    out = project / "previews"
    env = {tokens.ENV: "post-links-tests-secret-0123456789"}
    result = run("preview", "2023-12-links", "--out", str(out), *NOW, env=env)
    assert result.exit_code == 0, result.output
    assert f'href="{DESIGN}"' in (out / "2023-12-links.html").read_text(encoding="utf-8")
    assert DESIGN in (out / "2023-12-links.txt").read_text(encoding="utf-8")
    assert "post:" not in (out / "2023-12-links.html").read_text(encoding="utf-8")


BROKEN = (
    "See [the design](../how-the-case-studies-are-designed/) and\n"  # 7
    "[a missing post](post:no-such-post), [a typo](post:why-extra-familal-harm).\n"  # 8
    "[Winter](issue:2021-01-winter-updat) and [a good one](post:why-extra-familial-harm)\n"  # 9
    "![A chart](images/missing.png) ![Networks](images/networks.svg)\n"  # 10
    '<img src="/innovate/images/gone.png" alt="Gone">\n'  # 11
    "[Up top](/innovate/) [a page we do not build](/innovate/nowhere/)"  # 12
    " [elsewhere](https://example.com/a/) [a form](/innovate/networks)\n"
)


def test_check_names_the_line_of_each_link_that_leads_nowhere(
    project: Path, run: Callable[..., Result]
) -> None:
    write_post(project, BROKEN, front="image:\n  src: images/cover.png\n  alt: A cover\n")
    result = run("check", *NOW)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    found = located(result.stderr)
    missing = "has no file: static/images/{} does not exist"
    assert found == {  # the three lines of the image push the body down to line 10
        6: "image 'images/cover.png' " + missing.format("cover.png"),
        10: "link '../how-the-case-studies-are-designed/' leads out of the site, to "
        "https://example.org/how-the-case-studies-are-designed/; "
        "to link to that post write post:how-the-case-studies-are-designed",
        11: "link 'post:why-extra-familal-harm': no post has slug "
        "'why-extra-familal-harm'; did you mean post:why-extra-familial-harm?",
        12: "link 'issue:2021-01-winter-updat': no issue has slug '2021-01-winter-updat'; "
        "did you mean issue:2021-01-winter-update?",
        13: "image 'images/missing.png' " + missing.format("missing.png"),
        14: "image '/innovate/images/gone.png' " + missing.format("gone.png"),
        15: "link '/innovate/nowhere/' leads to https://example.org/innovate/nowhere/, "
        "a page the build does not write",
    }
    # two on one line: both are named
    assert "link 'post:no-such-post': no post has slug 'no-such-post'" in result.stderr
    assert "8 problem(s) found." in result.stderr


def test_links_to_drafts_are_errors_and_to_posts_still_to_come_warnings(
    project: Path, run: Callable[..., Result]
) -> None:
    (project / "posts" / "2030-01-01-later.md").write_text(
        "---\ntitle: Later\ndate: 2030-01-01\nkind: blog\n---\n\nSoon.\n", encoding="utf-8"
    )
    write_post(project, "Coming: [later](post:later).\n")
    result = run("check", *NOW)
    assert result.exit_code == 0, result.output
    assert located(result.stderr) == {
        7: "warning: link 'post:later' leads to 'later', which is out only from 2030-01-01"
    }
    write_post(project, "Coming: [recommendations](post:towards-policy-recommendations).\n")
    result = run("check", *NOW)
    assert result.exit_code == 1
    assert located(result.stderr) == {
        7: "link 'post:towards-policy-recommendations' leads to 'towards-policy-recommendations',"
        " a draft: it leads nowhere until that is published"
    }


def test_the_library_reports_the_same_problems(project: Path, settings: Settings) -> None:
    path = write_post(project, BROKEN)
    posts, problems = checks.check_posts(settings)
    assert problems == []
    now = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    found = checks.check_links(settings, posts, now)
    assert {(p.path, p.line) for p in found} == {(path.resolve(), line) for line in range(7, 13)}
    assert all(p.severity == "error" for p in found)
    assert len(found) == 7
    assert checks.check_project(settings, now=now)[: len(found)] == found
