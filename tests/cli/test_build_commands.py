"""`innovate-news build` and `check` through CliRunner: bad input is named, nothing is written."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest
from click.testing import Result
from lxml import html as lxml_html  # type: ignore[import-untyped]

from tests.support import REPO

NOW_ARG = ("--now", "2026-11-25T12:00")
GOOD = "---\ntitle: A post\ndate: 2021-03-04\nkind: blog\n---\nHello.\n"
LOCATED = re.compile(r"^(?P<path>[^\n]+?):(?P<line>\d+): (?P<message>.+)$", re.M)


@dataclass(frozen=True)
class Case:
    """A bad post file and the one problem the user should be told about."""

    name: str
    data: bytes
    line: int
    message: str


def post(text: str) -> bytes:
    return text.encode("utf-8")


CASES = {
    "missing title": Case(
        "untitled.md",
        post(GOOD.replace("title: A post\n", "")),
        1,
        "missing required field 'title'",
    ),
    "unknown kind": Case(
        "news.md", post(GOOD.replace("kind: blog", "kind: news")), 4, "kind 'news' is not a kind"
    ),
    "bad date": Case(
        "when.md",
        post(GOOD.replace("2021-03-04", "the fourth of March")),
        3,
        "date is not a date or datetime",
    ),
    "impossible date": Case(
        "feb.md",
        post(GOOD.replace("2021-03-04", "2021-02-30")),
        3,
        "date 2021-02-30 does not exist: February 2021 has 28 days",
    ),
    "impossible date and time": Case(
        "leap.md",
        post(GOOD.replace("2021-03-04", "2023-02-29 10:00")),
        3,
        "date 2023-02-29 does not exist: February 2023 has 28 days",
    ),
    "title with a colon": Case(
        "colon.md",
        post(GOOD.replace("title: A post", "title: Networks: how they work")),
        2,
        'the title has ": " in it, which YAML reads as the start of another field; '
        'put it in quotes: title: "Networks: how they work"',
    ),
    "misspelt field": Case(
        "typo.md",
        post(GOOD.replace("kind: blog", "kind: blog\nsumary: A summary")),
        5,
        "unknown field 'sumary': did you mean 'summary'?",
    ),
    "event without event block": Case(
        "meeting.md", post(GOOD.replace("kind: blog", "kind: event")), 1, "an event needs event:"
    ),
    "event without start": Case(
        "gathering.md",
        post(GOOD.replace("kind: blog", "kind: event\nevent:\n  location: Online")),
        5,
        "event.start is required",
    ),
    "image without alt": Case(
        "pictured.md",
        post(GOOD.replace("kind: blog", "kind: blog\nimage:\n  src: images/a.png")),
        5,
        "image needs alt text",
    ),
    "yaml syntax error": Case(
        "broken.md",
        post('---\ntitle: A post\ndate: 2021-03-04\nkind: blog\nsummary: "one" two\n---\nHi\n'),
        5,
        "YAML syntax error",
    ),
    "slug ../x": Case(
        "escape.md",
        post(GOOD.replace("kind: blog", "kind: blog\nslug: ../x")),
        5,
        "slug '../x' may only contain",
    ),
    "slug /abs": Case(
        "absolute.md",
        post(GOOD.replace("kind: blog", "kind: blog\nslug: /abs")),
        5,
        "slug '/abs' may only contain",
    ),
    "slug CON": Case(
        "device.md",
        post(GOOD.replace("kind: blog", "kind: blog\nslug: CON")),
        5,
        "slug 'CON' may only contain",
    ),
    "file named con": Case("con.md", post(GOOD), 1, "slug 'con' is a reserved file name"),
    "uppercase slug": Case(
        "shouty.md",
        post(GOOD.replace("kind: blog", "kind: blog\nslug: Big-News")),
        5,
        "slug 'Big-News' may only contain",
    ),
    "not utf-8": Case("latin1.md", post(GOOD) + "Café\n".encode("latin-1"), 7, "is not UTF-8"),
}


def add(project: Path, name: str, data: bytes) -> Path:
    path = project.resolve() / "posts" / name
    path.write_bytes(data)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def located(stderr: str) -> list[tuple[str, int, str]]:
    return [(m["path"], int(m["line"]), m["message"]) for m in LOCATED.finditer(stderr)]


def assert_failed_cleanly(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_post_fails_the_build_and_writes_nothing(
    project: Path, run: Callable[..., Result], case: Case
) -> None:
    path = add(project, case.name, case.data)
    result = run("build", *NOW_ARG)
    assert_failed_cleanly(result)
    problems = located(result.stderr)
    assert len(problems) == 1, result.stderr
    assert problems[0][:2] == (str(path), case.line)
    assert case.message in problems[0][2]
    assert not (project / "site").exists()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_post_leaves_an_existing_site_unchanged(
    project: Path, run: Callable[..., Result], case: Case
) -> None:
    assert run("build", *NOW_ARG).exit_code == 0
    before = snapshot(project / "site")
    add(project, case.name, case.data)
    assert_failed_cleanly(run("build", *NOW_ARG))
    assert snapshot(project / "site") == before


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_check_reports_the_same_problem_without_writing(
    project: Path, run: Callable[..., Result], case: Case
) -> None:
    add(project, case.name, case.data)
    result = run("check")
    assert_failed_cleanly(result)
    [problem] = located(result.stderr)
    assert problem[:2] == (f"posts/{case.name}", case.line)  # relative to the project
    assert case.message in problem[2]
    assert "1 problem(s) found." in result.stderr
    assert not (project / "site").exists()
    assert not (project / ".innovate-news").exists()


def test_duplicate_slug_names_both_files(project: Path, run: Callable[..., Result]) -> None:
    original = project.resolve() / "posts" / "2021-02-18-why-extra-familial-harm.md"
    copy = add(project, "2024-01-01-why-extra-familial-harm.md", original.read_bytes())
    for command in (["build", *NOW_ARG], ["check"]):
        result = run(*command)
        assert_failed_cleanly(result)
        [problem] = located(result.stderr)
        assert (project / problem[0]).resolve() == copy and problem[1] == 1
        assert f"slug 'why-extra-familial-harm' is also used by {original}" in problem[2]
    assert not (project / "site").exists()


def test_duplicate_slug_from_front_matter(project: Path, run: Callable[..., Result]) -> None:
    add(project, "zz-other.md", post(GOOD.replace("kind: blog", "kind: blog\nslug: a-post")))
    add(project, "a-post.md", post(GOOD))
    result = run("build", *NOW_ARG)
    assert_failed_cleanly(result)
    assert "is also used by" in result.stderr
    assert "a-post.md" in result.stderr and "zz-other.md" in result.stderr
    assert not (project / "site").exists()


def test_every_bad_file_is_reported_in_one_run(project: Path, run: Callable[..., Result]) -> None:
    for case in CASES.values():
        add(project, case.name, case.data)
    expected = {(case.name, case.line) for case in CASES.values()}
    for command in (["build", *NOW_ARG], ["check"]):
        result = run(*command)
        assert_failed_cleanly(result)
        reported = {(Path(path).name, line) for path, line, _ in located(result.stderr)}
        assert expected <= reported, command
    assert not (project / "site").exists()


def test_empty_posts_folder_is_a_clear_message(project: Path, run: Callable[..., Result]) -> None:
    for path in (project / "posts").glob("*.md"):
        path.unlink()
    result = run("build", *NOW_ARG)
    assert_failed_cleanly(result)
    assert "no posts in" in result.stderr
    assert "add a markdown file" in result.stderr
    assert not (project / "site").exists()
    checked = run("check")
    assert_failed_cleanly(checked)
    assert "no posts yet: add a markdown file" in checked.stderr


def test_missing_posts_folder(project: Path, run: Callable[..., Result]) -> None:
    shutil.rmtree(project / "posts")
    result = run("build", *NOW_ARG)
    assert_failed_cleanly(result)
    assert "does not exist; create it" in result.stderr


def test_scripts_handlers_and_javascript_links_are_sanitised(
    project: Path, run: Callable[..., Result]
) -> None:
    body = (
        "Safe start.\n\n<script>alert('s')</script>\n\n"
        '<img src="images/x.png" alt="A chart" onerror="alert(\'e\')">\n\n'
        "[click me](javascript:alert('j'))\n\n"
        "<a href=\"javascript:alert('a')\" onclick=\"alert('c')\">raw link</a>\n\n"
        '<iframe src="https://evil.test/"></iframe>\n\nSafe end.\n'
    )
    add(project, "2022-06-01-hostile.md", post(GOOD.replace("Hello.\n", body)))
    result = run("build", *NOW_ARG)
    assert result.exit_code == 0, result.output
    site = project / "site"

    page = lxml_html.fromstring((site / "posts" / "hostile" / "index.html").read_bytes())
    [content] = page.xpath('//div[@class="content"]')
    fragments = {"page": lxml_html.tostring(content, encoding="unicode")}
    fragments["rss"] = next(
        e.content[0].value
        for e in feedparser.parse((site / "feed.xml").read_bytes()).entries
        if e.link.endswith("/hostile/")
    )
    fragments["atom"] = next(
        e.content[0].value
        for e in feedparser.parse((site / "blog" / "atom.xml").read_bytes()).entries
        if e.link.endswith("/hostile/")
    )
    items = json.loads((site / "feed.json").read_text(encoding="utf-8"))["items"]
    fragments["json"] = next(i["content_html"] for i in items if i["url"].endswith("/hostile/"))
    for where, html in fragments.items():
        tree = lxml_html.fragment_fromstring(html, create_parent="div")
        assert not tree.xpath("//script | //iframe"), where
        for element in tree.iter():
            for attribute, value in element.attrib.items():
                assert not attribute.lower().startswith("on"), f"{attribute} in the {where}"
                assert "javascript:" not in value.lower(), f"{value} in the {where}"
        assert "evil.test" not in html, where
        assert "Safe start." in html and "Safe end." in html, where
        assert 'src="https://example.org/innovate/images/x.png"' in html, where
        assert 'alt="A chart"' in html, where
        assert "raw link" in html and "click me" in html, where
    scripts = page.xpath("//script")
    assert [s.get("type") for s in scripts] == ["application/ld+json"]


def test_check_passes_on_the_examples_and_writes_nothing(
    project: Path, run: Callable[..., Result]
) -> None:
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "All good" in result.output
    assert result.stderr == ""
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_check_reports_a_template_syntax_error_with_its_line(
    project: Path, run: Callable[..., Result]
) -> None:
    theme = project.resolve() / "theme" / "site"
    theme.mkdir(parents=True)
    broken = theme / "index.html"
    source = (REPO / "templates" / "site" / "index.html").read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if "{% for p in recent %}" in line)
    broken.write_text(source.replace("{% for p in recent %}", "{% for p in recent %"), "utf-8")
    with (project / "innovate-news.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[paths]\ntemplates = "theme"\n')
    for command in (["check"], ["build", *NOW_ARG]):
        result = run(*command)
        assert_failed_cleanly(result)
        [problem] = located(result.stderr)
        assert (project / problem[0]).resolve() == broken and problem[1] == number, command
    # the page template is fine, but a broken index must not leave a half-built site behind
    assert not (project / "site").exists()


def test_build_prints_a_summary(project: Path, run: Callable[..., Result]) -> None:
    result = run("build", *NOW_ARG)
    assert result.exit_code == 0
    assert re.search(r"12 of 13 posts published, 13 rendered, \d+ files written", result.output)
    again = run("build", *NOW_ARG)
    assert "13 rendered" not in again.output
    assert "0 rendered" in again.output


def test_build_into_another_folder(
    project: Path, run: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "public"
    assert run("build", "--out", str(out), *NOW_ARG).exit_code == 0
    assert (out / "feed.xml").is_file()
    assert not (project / "site").exists()


def test_now_accepts_a_date_in_the_site_time_zone(
    project: Path, run: Callable[..., Result]
) -> None:
    assert run("build", "--now", "2021-01-01").exit_code == 0
    feed = feedparser.parse((project / "site" / "feed.xml").read_bytes())
    assert len(feed.entries) == 4  # the 2020 posts only
    # a naive --now is the site's local time: the 11:00 BST post is out at 10:30 London time
    add(project, "late.md", post(GOOD.replace("2021-03-04", "2021-06-01 11:00")))
    assert run("build", "--now", "2021-06-01T10:30").exit_code == 0
    assert b"posts/late/" not in (project / "site" / "feed.xml").read_bytes()
    assert run("build", "--now", "2021-06-01T10:30+00:00").exit_code == 0  # 11:30 in London
    assert b"posts/late/" in (project / "site" / "feed.xml").read_bytes()


def test_a_bad_now_is_a_usage_error(project: Path, run: Callable[..., Result]) -> None:
    result = run("build", "--now", "next week")
    assert result.exit_code == 2
    assert "is not a date or datetime" in result.output
    assert not (project / "site").exists()


def test_check_also_checks_the_subscriber_list(project: Path, run: Callable[..., Result]) -> None:
    example = str(project / "subscribers.example.csv")
    good = run("check", "--now", "2026-11-25", "--subscribers", example)
    assert good.exit_code == 0, good.output
    bad = project / "bad.csv"
    bad.write_text(
        "email,name,status\nok@example.org,Ok,subscribed\nnot-an-address,Bad,subscribed\n"
        "ok@EXAMPLE.org,Again,subscribed\nthird@example.org,Third,sleeping\n",
        encoding="utf-8",
    )
    result = run("check", "--now", "2026-11-25", "--subscribers", str(bad))
    assert result.exit_code == 1
    rows = {(path, line) for path, line, _ in located(result.stderr)}
    assert ("bad.csv", 3) in rows  # the invalid address, by row (relative to the project)
    assert ("bad.csv", 5) in rows  # the unknown status
    assert "ok@example.org" in result.stderr.lower()  # the duplicate is reported too


# GitHub's workflow command syntax: `::error file=F,line=N::message`, with `%`, CR and LF escaped
# in the message, and also `:` and `,` in the properties (as actions/toolkit escapes them).
COMMAND = re.compile(r"^::(?P<kind>error|warning)(?: (?P<properties>[^:]*))?::(?P<data>.*)$")


def unescape(value: str, property_value: bool = False) -> str:
    if property_value:
        value = value.replace("%3A", ":").replace("%2C", ",")
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def workflow_commands(stdout: str) -> list[tuple[str, str | None, int | None, str]]:
    """(kind, file, line, message) of each line, which must all be workflow commands."""
    parsed = []
    for text in stdout.splitlines():
        match = COMMAND.match(text)
        assert match, f"not a workflow command: {text!r}"
        found = dict(item.split("=", 1) for item in (match["properties"] or "").split(",") if item)
        assert set(found) <= {"file", "line"}, text
        file = unescape(found["file"], property_value=True) if "file" in found else None
        line = int(found["line"]) if "line" in found else None
        parsed.append((match["kind"], file, line, unescape(match["data"])))
    return parsed


def test_check_format_github_prints_annotations_for_the_same_problems(
    project: Path, run: Callable[..., Result]
) -> None:
    add(project, "feb.md", post(GOOD.replace("2021-03-04", "2021-02-30")))
    add(project, "a,b.md", post(GOOD))  # a comma in the path: escaped in the property
    add(project, "50%.md", post(GOOD))  # a % in the path and in the message
    text = run("check", *NOW_ARG)
    result = run("check", *NOW_ARG, "--format", "github")
    assert result.exit_code == 1
    assert "file=posts/a%2Cb.md," in result.stdout
    assert "file=posts/50%25.md,line=1::slug '50%25' may only" in result.stdout
    commands = workflow_commands(result.stdout)
    assert sorted((file or "", line or 0, message) for _, file, line, message in commands) == (
        sorted((path, line, message) for path, line, message in located(text.stderr))
    )
    assert {(kind, file, line) for kind, file, line, _ in commands} == {
        ("error", "posts/feb.md", 3),
        ("error", "posts/a,b.md", 1),
        ("error", "posts/50%.md", 1),
    }
    assert result.stderr == "3 problem(s) found.\n"


def test_check_format_github_prints_nothing_when_all_is_good(
    run: Callable[..., Result],
) -> None:
    result = run("check", *NOW_ARG, "--format", "github")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("All good")
    assert result.stderr == ""


def test_workflow_commands_escape_what_would_end_them(tmp_path: Path) -> None:
    from innovate_news.cli import problems as report
    from innovate_news.errors import Problem

    root = tmp_path.resolve()
    odd = Problem(root / "posts" / "a:b,c.md", 4, "100% sure\r\nnext: line, more")
    line = report.github(odd, root)
    assert line == "::error file=posts/a%3Ab%2Cc.md,line=4::100%25 sure%0D%0Anext: line, more"
    assert workflow_commands(line) == [
        ("error", "posts/a:b,c.md", 4, "100% sure\r\nnext: line, more")
    ]
    warning = Problem(root / "issues" / "x.md", None, "long subject", "warning")
    assert report.github(warning, root) == "::warning file=issues/x.md::long subject"
    assert report.github(Problem(None, None, "no posts"), root) == "::error::no posts"
    elsewhere = Problem(Path("/elsewhere/list.csv"), 2, "bad row")
    assert report.github(elsewhere, root) == "::error file=/elsewhere/list.csv,line=2::bad row"
    assert report.text(odd, root).startswith("posts/a:b,c.md:4: 100% sure")
